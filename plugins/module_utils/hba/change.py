# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TCP part of pg_hba.conf as one managed block: planning new file contents, no I/O.

The collection owns TCP access. ``plan_hba`` writes one block before the first rule of the file:
rejects for TCP without TLS, one line per client source, the loopback lines kept from the file,
and rejects for every other TCP connection. Every other TCP line of the file is commented out
with a note, so that the block says who can connect over TCP. Include directives are left alone;
lines are recognised with the parser of ``pg_hba``.

Options the cis profile uses: ``final_reject: sources`` rejects per client network instead of for
0.0.0.0/0 and ::/0 (no line of the file then covers every address; what matches no line
PostgreSQL refuses by itself), ``reject_users`` rejects those users (the superusers) over TCP
before the client lines, and ``local_peer`` comments out every accepting ``local`` line that is not
``peer`` and puts the same line with ``peer`` in its place. Without them ``local`` lines are left alone.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import is_loopback, normalize_cidr
from ansible_collections.pgsec.hardening.plugins.module_utils.inputs import fail
from ansible_collections.pgsec.hardening.plugins.module_utils.managed_config import SUPERSEDED_MARK
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import INCLUDE_DIRECTIVES
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import (
    CONNECTION_TYPES,
    _check_rule,
    _logical_lines,
    _new_rule,
    _tokenize_fields,
)

ROLE = 'tls'
BEGIN_MARK = '# BEGIN pgsec.hardening managed block'
END_MARK = '# END pgsec.hardening managed block'
BEGIN_LINE = BEGIN_MARK + ' (role %s): TCP access. Changes made here are overwritten.' % ROLE
END_LINE = END_MARK
LOOPBACK_HEADER = '# loopback lines kept from this file'
SUPERSEDED_PREFIX = SUPERSEDED_MARK % ROLE
SUPERSEDED_START = SUPERSEDED_MARK.split('(', 1)[0]

TCP_TYPES = tuple(kind for kind in CONNECTION_TYPES if kind != 'local')
METHODS = ('scram-sha-256', 'md5', 'password', 'cert', 'reject')
NOT_OFFERED_METHODS = ('ldap', 'radius', 'gss', 'sspi', 'pam', 'ident', 'peer', 'bsd', 'oauth')
CLIENTCERT_MODES = ('none', 'verify-ca', 'verify-full')
CLIENT_KEYS = ('name', 'sources', 'databases', 'users', 'method', 'auth_method', 'clientcert')
FINAL_REJECTS = ('all', 'sources')
DEFAULT_OPTIONS = {'require_ssl': True, 'clientcert': 'none', 'method': 'scram-sha-256',
                   'keep_loopback': True, 'keep_other_tcp': False, 'final_reject': 'all', 'reject_users': [],
                   'local_peer': False}
SUPERUSERS_HEADER = '# superusers never over TCP'
# A pg_hba name that needs no quotes: not a keyword, no blanks, commas, quotes or "#".
_PLAIN_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_$.-]*$')
_HBA_KEYWORDS = ('all', 'sameuser', 'samerole', 'samegroup', 'replication')
# Column widths of a rendered line: type, database, user, address (then method and options).
COLUMNS = (10, 16, 16, 24)
_BAD_NAME = re.compile(r'[\s"\',#\\]')
_BAD_CLIENT_NAME = re.compile(r'[\x00-\x1f\x7f\\]')


class HbaPlanError(ValueError):
    """The block cannot be planned; the message names the option or field and its value."""


# ---------------------------------------------------------------------------- input

_fail = functools.partial(fail, HbaPlanError)


def _check_method(field, method):
    if method in METHODS:
        return method
    if method == 'trust':
        _fail(field, method, 'is refused: it lets anybody in without a password')
    if method in NOT_OFFERED_METHODS:
        _fail(field, method, 'is not offered for TCP clients (choose one of %s)' % ', '.join(METHODS))
    _fail(field, method, 'is not an authentication method (choose one of %s)' % ', '.join(METHODS))
    return None


def _check_clientcert(field, value):
    value = 'none' if value is None else value
    if value not in CLIENTCERT_MODES:
        _fail(field, value, 'is not one of %s' % ', '.join(CLIENTCERT_MODES))
    return value


def _as_list(field, value, default):
    if value is None:
        return list(default)
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        _fail(field, value, 'is not a list')
    return list(value) or list(default)


def _names(field, value, kind):
    names = _as_list(field, value, ['all'])
    for name in names:
        if not isinstance(name, str) or not name or _BAD_NAME.search(name):
            _fail(field, name, 'is not a usable %s name (no whitespace, quotes, commas, "#" or backslashes)' % kind)
    return names


def check_options(options):
    """Options with defaults filled in; HbaPlanError for unknown or invalid ones."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        _fail('options', unknown, 'are unknown (known: %s)' % ', '.join(sorted(DEFAULT_OPTIONS)))
    merged = dict(DEFAULT_OPTIONS)
    merged.update((key, value) for key, value in options.items() if value is not None)
    for key in ('require_ssl', 'keep_loopback', 'keep_other_tcp', 'local_peer'):
        if not isinstance(merged[key], bool):
            _fail(key, merged[key], 'is not a boolean')
    if merged['final_reject'] not in FINAL_REJECTS:
        _fail('final_reject', merged['final_reject'], 'is not one of %s' % ', '.join(FINAL_REJECTS))
    if merged['final_reject'] == 'sources' and merged['keep_other_tcp']:
        _fail('final_reject', 'sources', 'rejects per client network; keep_other_tcp would leave other lines open')
    users = merged['reject_users']
    if isinstance(users, str) or not isinstance(users, (list, tuple)):
        _fail('reject_users', users, 'is not a list of user names')
    for name in users:
        if not isinstance(name, str) or not name or '\n' in name or '\x00' in name:
            _fail('reject_users', name, 'is not a user name')
    merged['reject_users'] = sorted(set(users))
    merged['method'] = _check_method('method', merged['method'])
    merged['clientcert'] = _check_clientcert('clientcert', merged['clientcert'])
    if merged['clientcert'] != 'none' and not merged['require_ssl']:
        _fail('clientcert', merged['clientcert'], 'needs require_ssl: only hostssl lines can check client certificates')
    return merged


def _stricter_clientcert(first, second):
    return max(first, second, key=CLIENTCERT_MODES.index)


def check_clients(clients, options):
    """Clients as {name, sources (canonical CIDR), databases, users, method, clientcert}."""
    checked = []
    for index, client in enumerate(_as_list('clients', clients, [])):
        where = 'clients[%d]' % index
        if not isinstance(client, dict):
            _fail(where, client, 'is not a dict')
        unknown = sorted(set(client) - set(CLIENT_KEYS))
        if unknown:
            _fail(where, unknown, 'are unknown keys (known: %s)' % ', '.join(CLIENT_KEYS))
        name = client.get('name')
        if name is None:
            name = 'client%d' % (index + 1)
        if not isinstance(name, str) or not name.strip() or _BAD_CLIENT_NAME.search(name):
            _fail(where + '.name', name, 'is not a usable name (no control characters or backslashes)')
        sources = []
        for number, source in enumerate(_as_list(where + '.sources', client.get('sources'), [])):
            cidr = normalize_cidr(source) if isinstance(source, str) else None
            if cidr is None:
                _fail('%s.sources[%d]' % (where, number), source, 'is not an IP address or network in CIDR notation')
            if cidr not in sources:
                sources.append(cidr)
        method_key = 'auth_method' if client.get('method') is None else 'method'
        method = client.get(method_key)
        method = options['method'] if method is None else _check_method('%s.%s' % (where, method_key), method)
        clientcert = _stricter_clientcert(options['clientcert'],
                                          _check_clientcert(where + '.clientcert', client.get('clientcert')))
        if not options['require_ssl'] and method == 'cert':
            _fail('%s.%s' % (where, method_key), method, 'needs require_ssl: only hostssl lines can check client certificates')
        if not options['require_ssl'] and clientcert != 'none':
            _fail(where + '.clientcert', clientcert, 'needs require_ssl: only hostssl lines can check client certificates')
        users = _names(where + '.users', client.get('users'), 'user')
        for user in users:
            if user in options['reject_users']:
                _fail(where + '.users', user, 'is a superuser, rejected over TCP (reject_users); administer '
                                              'through the Unix socket')
        checked.append({'name': name.strip(), 'sources': sources,
                        'databases': _names(where + '.databases', client.get('databases'), 'database'),
                        'users': users, 'method': method, 'clientcert': clientcert})
    return checked


# ---------------------------------------------------------------------------- reading

def _keep_at_file(name):
    """@file tokens stay as written: the planner reads no other file."""
    return [('@' + name, False)]


def _units(text):
    """The file as logical lines: {start, lines (physical), text, kind, rule}.

    kind is blank, comment, begin, end, include, tcp or rule (local and unparseable lines).
    """
    physical = text.split('\n')
    if physical and physical[-1] == '':
        physical.pop()
    logical = list(_logical_lines(text))
    units = []
    for index, (start, line) in enumerate(logical):
        stop = logical[index + 1][0] - 1 if index + 1 < len(logical) else len(physical)
        unit = {'start': start, 'lines': physical[start - 1:stop], 'text': line, 'kind': 'rule', 'rule': None}
        stripped = line.strip()
        fields = _tokenize_fields(line, _keep_at_file)
        if stripped.startswith(BEGIN_MARK):
            unit['kind'] = 'begin'
        elif stripped.startswith(END_MARK):
            unit['kind'] = 'end'
        elif not fields:
            unit['kind'] = 'comment' if stripped else 'blank'
        elif len(fields) == 2 and fields[0][0][0] in INCLUDE_DIRECTIVES:
            unit['kind'] = 'include'
        else:
            rule = _new_rule('pg_hba.conf', start, line)
            rule['error'] = _check_rule(fields, rule)
            unit['rule'] = rule
            if rule['type'] in TCP_TYPES:
                unit['kind'] = 'tcp'
        units.append(unit)
    return units


def _is_loopback_rule(rule):
    return bool(rule and rule['type'] in TCP_TYPES and not rule['error'] and rule['address_kind'] == 'cidr'
                and is_loopback(rule['cidr']))


def _one_line(text):
    """A logical line as one physical line that cannot continue onto the next."""
    return text.strip().rstrip('\\').rstrip()


def _split_block(units):
    """(units outside managed blocks, loopback lines kept inside them); HbaPlanError when unbalanced."""
    outside, kept = [], []
    begun = None
    in_loopback = drop_blank = False
    for unit in units:
        kind = unit['kind']
        if kind == 'begin':
            if begun is not None:
                raise HbaPlanError('line %d: a managed block begins inside the one begun at line %d' % (unit['start'], begun))
            begun, in_loopback = unit['start'], False
        elif kind == 'end':
            if begun is None:
                raise HbaPlanError('line %d: "%s" without its BEGIN line' % (unit['start'], END_LINE))
            begun, drop_blank = None, True
            continue
        elif begun is not None:
            if unit['text'].strip() == LOOPBACK_HEADER:
                in_loopback = True
            elif in_loopback and _is_loopback_rule(unit['rule']):
                kept.append(_one_line(unit['text']))
        elif not (drop_blank and kind == 'blank'):
            outside.append(unit)
        drop_blank = False
    if begun is not None:
        raise HbaPlanError('line %d: the managed block never ends (no "%s" line)' % (begun, END_LINE))
    return outside, kept


def _insert_at(units):
    """Index in units where the block goes: after the leading comment header, before the first rule.

    Comments directly above the first rule stay with it; lines this planner commented out count as rules.
    """
    last_blank = -1
    for index, unit in enumerate(units):
        if unit['kind'] == 'blank':
            last_blank = index
        elif unit['kind'] != 'comment' or unit['text'].strip().startswith(SUPERSEDED_START):
            break
    return last_blank + 1


# ---------------------------------------------------------------------------- rendering

def render_line(conntype, databases, users, address, method, options=()):
    fields = [conntype, ','.join(databases), ','.join(users), address]
    text = ''.join(field.ljust(width - 1) + ' ' for field, width in zip(fields, COLUMNS))
    return ' '.join([text + method] + list(options))


def hba_name(name):
    """A user or database name as a pg_hba token: quoted when it is a keyword or holds special characters."""
    if _PLAIN_NAME.match(name) and name not in _HBA_KEYWORDS:
        return name
    return '"%s"' % name.replace('"', '""')


def _token(text):
    """A database/user token of a parsed rule as it can be written again (re-quoted when needed).

    The parser keeps the quotes of a quoted keyword, +group or @file ('"all"'); other names come
    without their quotes and get them back when they need them.
    """
    if len(text) > 1 and text[0] == text[-1] == '"':
        inner = text[1:-1].replace('""', '"')
        if inner in _HBA_KEYWORDS or inner[:1] in ('+', '@'):
            return text
    if not re.search(r'[\s,#"]', text):
        return text
    return '"%s"' % text.replace('"', '""')


def _peer_line(rule):
    """The local rule with method peer (an ident map is kept; local ident is peer)."""
    options = []
    if rule['method'] == 'ident' and rule['options'].get('map'):
        options.append(_token('map=%s' % rule['options']['map']))
    return render_line('local', [_token(name) for name in rule['database']], [_token(name) for name in rule['user']],
                       '', 'peer', options)


def _becomes_peer(unit):
    rule = unit['rule']
    return bool(rule and not rule['error'] and rule['type'] == 'local' and rule['method'] not in ('peer', 'reject'))


def _sources(clients):
    sources = []
    for client in clients:
        for source in client['sources']:
            if source not in sources:
                sources.append(source)
    return sources


def _client_lines(client, conntype):
    options = []
    if client['clientcert'] != 'none' and client['method'] not in ('cert', 'reject'):
        options.append('clientcert=%s' % client['clientcert'])
    return [render_line(conntype, client['databases'], client['users'], source, client['method'], options)
            for source in client['sources']]


def _block(clients, options, kept):
    """(block lines with markers, rule lines only)."""
    conntype = 'hostssl' if options['require_ssl'] else 'host'
    sources = _sources(clients)
    networks = sources if options['final_reject'] == 'sources' else ['0.0.0.0/0', '::/0']
    lines = [BEGIN_LINE]
    if options['require_ssl']:
        lines += [render_line('hostnossl', ['all'], ['all'], network, 'reject') for network in networks]
    if options['reject_users'] and sources:
        users = [hba_name(name) for name in options['reject_users']]
        lines += [SUPERUSERS_HEADER] + [render_line(conntype, ['all'], users, source, 'reject') for source in sources]
    for client in clients:
        client_lines = _client_lines(client, conntype)
        if client_lines:
            lines += ['# client %s' % client['name']] + client_lines
    if kept:
        lines += [LOOPBACK_HEADER] + kept
    if not options['keep_other_tcp']:
        lines += [render_line(conntype, ['all'], ['all'], network, 'reject') for network in networks]
    lines.append(END_LINE)
    return lines, [line for line in lines if not line.startswith('#')]


def _normalized(line):
    return ' '.join(line.split())


def _supersede(units, options, kept, seen):
    """(rendered lines per unit, superseded entries): TCP lines commented out, loopback ones appended to kept."""
    superseded, rendered = [], []
    for unit in units:
        if options['local_peer'] and _becomes_peer(unit):
            line = _one_line(unit['text'])
            replacement = _peer_line(unit['rule'])
            superseded.append({'line': unit['start'], 'text': line, 'moved': False, 'replaced_by': replacement})
            rendered.append([SUPERSEDED_PREFIX + line, replacement])
            continue
        if unit['kind'] != 'tcp' or options['keep_other_tcp']:
            rendered.append(unit['lines'])
            continue
        line = _one_line(unit['text'])
        moved = options['keep_loopback'] and _is_loopback_rule(unit['rule'])
        if moved and _normalized(line) not in seen:
            seen.add(_normalized(line))
            kept.append(line)
        superseded.append({'line': unit['start'], 'text': line, 'moved': moved})
        rendered.append([SUPERSEDED_PREFIX + line])
    return rendered, superseded


def plan_included(text, options=None):
    """New text of a file pg_hba.conf includes (include, include_if_exists, include_dir; PostgreSQL 16+).

    Its TCP lines are commented out as in the main file (the managed block there admits the clients);
    its loopback lines are returned in ``kept`` for the block. Returns {text, changed, superseded, kept}.
    """
    options = check_options(options)
    kept = []
    rendered, superseded = _supersede(_units(text or ''), options, kept, set())
    new_text = '\n'.join(line for lines in rendered for line in lines) + '\n' if rendered else (text or '')
    return {'text': new_text, 'changed': new_text != text, 'superseded': superseded, 'kept': kept}


def plan_hba(text, clients, options=None, extra_kept=None):
    """New pg_hba.conf text with the managed TCP block.

    extra_kept: loopback lines of included files (plan_included), kept in the block like the file's own.

    Returns {text, changed, superseded: [{line, text, moved}], managed: [rule lines of the block]};
    ``moved`` tells a loopback line copied into the block; a local line replaced by its peer form
    (local_peer) has ``replaced_by``, the new line. Raises HbaPlanError for invalid input or a
    managed block without its BEGIN or END line.
    """
    options = check_options(options)
    clients = check_clients(clients, options)
    outside, kept = _split_block(_units(text or ''))
    if not options['keep_loopback']:
        kept = []
    kept += [line for line in extra_kept or [] if options['keep_loopback']]
    seen = set(_normalized(line) for line in kept)
    at = _insert_at(outside)
    rendered, superseded = _supersede(outside, options, kept, seen)
    block, managed = _block(clients, options, kept)
    after = [line for lines in rendered[at:] for line in lines]
    new_lines = [line for lines in rendered[:at] for line in lines] + block + ([''] if after else []) + after
    new_text = '\n'.join(new_lines) + '\n'
    return {'text': new_text, 'changed': new_text != text, 'superseded': superseded, 'managed': managed}
