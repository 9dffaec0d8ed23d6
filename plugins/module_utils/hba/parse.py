# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_hba.conf parsing following PostgreSQL's tokenizer and line checks (src/backend/libpq/hba.c).

Rules come out in file order as plain dicts:
  {"file", "line", "type", "database": [...], "user": [...], "address", "netmask",
   "address_kind", "cidr", "family", "prefix_len", "method", "options": {...},
   "error", "text"}
``database``/``user`` hold the names as written without quotes, except that a quoted
token that would otherwise be special (all, sameuser, samerole, samegroup,
replication, +group, @file) keeps its double quotes (PostgreSQL 16 treats a leading
slash as a regular expression whether quoted or not): ``'all' in rule["database"]``
is therefore true only for the keyword. ``address_kind`` is one of None (local),
"cidr", "hostname", "all", "samehost", "samenet".
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import ipaddress
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import (
    covers_everything,
    format_network,
    netmask_to_prefix,
    parse_ip,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import (
    INCLUDE_DIRECTIVES,
    IncludeResolver,
    sort_errors,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.psql import (
    empty_to_none,
    parse_int,
    parse_pg_array,
    parse_unaligned,
    FIELD_SEP,
    RECORD_SEP,
)

CONNECTION_TYPES = ('local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc')
AUTH_METHODS = ('trust', 'reject', 'md5', 'password', 'scram-sha-256', 'gss', 'sspi', 'ident', 'peer',
                'pam', 'ldap', 'cert', 'radius', 'bsd', 'oauth')
# Methods PostgreSQL knows but a Linux build refuses.
UNSUPPORTED_METHODS = ('sspi', 'bsd')
DATABASE_KEYWORDS = ('all', 'sameuser', 'samerole', 'samegroup', 'replication')
USER_KEYWORDS = ('all',)
ADDRESS_KEYWORDS = ('all', 'samehost', 'samenet')

# Authentication options and the methods that accept them (parse_hba_auth_opt).
OPTION_METHODS = {
    'map': ('ident', 'peer', 'gss', 'sspi', 'cert', 'oauth'),
    'clientcert': None,
    'clientname': None,
    'pamservice': ('pam',),
    'pam_use_hostname': ('pam',),
    'ldapurl': ('ldap',), 'ldaptls': ('ldap',), 'ldapscheme': ('ldap',), 'ldapserver': ('ldap',),
    'ldapport': ('ldap',), 'ldapbinddn': ('ldap',), 'ldapbindpasswd': ('ldap',),
    'ldapsearchattribute': ('ldap',), 'ldapsearchfilter': ('ldap',), 'ldapbasedn': ('ldap',),
    'ldapprefix': ('ldap',), 'ldapsuffix': ('ldap',),
    'krb_realm': ('gss', 'sspi'), 'include_realm': ('gss', 'sspi'), 'compat_realm': ('sspi',),
    'upn_username': ('sspi',),
    'radiusservers': ('radius',), 'radiussecrets': ('radius',), 'radiusidentifiers': ('radius',),
    'radiusports': ('radius',),
    'issuer': ('oauth',), 'scope': ('oauth',), 'validator': ('oauth',), 'delegate_ident_mapping': ('oauth',),
}
# Options whose values are secrets: never copied into results.
SECRET_OPTIONS = ('ldapbindpasswd', 'radiussecrets')
REDACTED = '********'

HBA_FILE_RULES_COLUMNS = ('line_number', 'type', 'database', 'user_name', 'address', 'netmask',
                          'auth_method', 'options', 'error')
HBA_FILE_RULES_COLUMNS_PG16 = ('rule_number', 'file_name') + HBA_FILE_RULES_COLUMNS

_BLANK = ' \t\r'
_CIDR_BITS = re.compile(r'^\s*\+?[0-9]+$')


def _next_token(line, pos):
    """One token as hba.c's next_token: returns (text, initial_quote, terminating_comma, found, new pos)."""
    length = len(line)
    while pos < length and (line[pos] in _BLANK or line[pos] == ','):
        pos += 1
    chars = []
    in_quote = was_quote = saw_quote = initial_quote = comma = False
    while pos < length and (line[pos] not in _BLANK or in_quote):
        char = line[pos]
        if char == '#' and not in_quote:
            pos = length
            break
        if char == ',' and not in_quote:
            comma = True
            break
        if char != '"' or was_quote:
            chars.append(char)
        was_quote = (not was_quote) if (in_quote and char == '"') else False
        if char == '"':
            in_quote = not in_quote
            saw_quote = True
            if not chars:
                initial_quote = True
        pos += 1
    return ''.join(chars), initial_quote, comma, saw_quote or bool(chars), pos


def _tokenize_fields(line, at_file_hook):
    """Fields of one logical line: a list of non-empty lists of (text, quoted) tokens.

    ``at_file_hook(name)`` expands an unquoted @file token into a list of tokens.
    """
    fields = []
    pos = 0
    while pos < len(line):
        tokens = []
        while True:
            text, quoted, comma, found, pos = _next_token(line, pos)
            if not found:
                break
            if not quoted and len(text) > 1 and text[0] == '@':
                tokens.extend(at_file_hook(text[1:]))
            else:
                tokens.append((text, quoted))
            if not comma:
                break
        if tokens:
            fields.append(tokens)
    return fields


def _logical_lines(text):
    """(first line number, text) of each logical line; CR/LF stripped, backslash-newline joins lines."""
    physical = text.split('\n')
    if physical and physical[-1] == '':
        physical.pop()
    start, pending = None, None
    for number, raw in enumerate(physical, 1):
        raw = raw.rstrip('\r\n')
        if pending is None:
            start, pending = number, ''
        if raw.endswith('\\'):
            pending += raw[:-1]
            continue
        yield start, pending + raw
        pending = None
    if pending is not None:
        yield start, pending


def _display_token(text, quoted, keywords):
    """Token text, re-quoted when quoting changed its meaning."""
    if quoted and (text in keywords or text[:1] in ('+', '@')):
        return '"%s"' % text.replace('"', '""')
    return text


def _refused(info, error):
    """info with the error PostgreSQL would report for this address."""
    info['error'] = error
    return info


def describe_address(address, netmask=None):
    """Classify a pg_hba address (+ optional netmask) into kind, cidr, family, prefix_len.

    Returns {"address_kind", "cidr", "family", "prefix_len", "error"}; kind is None when
    address is None (local lines).
    """
    info = {'address_kind': None, 'cidr': None, 'family': None, 'prefix_len': None, 'error': None}
    if address is None:
        return info
    if address in ADDRESS_KEYWORDS:
        info['address_kind'] = address
        return info
    host, slash, bits = address.partition('/')
    ip = parse_ip(host)
    if ip is None:
        info['address_kind'] = 'hostname'
        if slash:
            info['error'] = 'invalid IP address "%s": Name or service not known' % host
        elif netmask is not None:
            info['error'] = 'netmask given for host name "%s"' % host
        return info
    info['address_kind'] = 'cidr'
    info['family'] = ip.version
    if slash:
        if netmask is not None:
            return _refused(info, 'both a CIDR mask and a netmask given')
        if not _CIDR_BITS.match(bits) or int(bits) > ip.max_prefixlen:
            return _refused(info, 'invalid CIDR mask in address "%s"' % address)
        prefix = int(bits)
    else:
        if netmask is None:
            return _refused(info, 'end-of-line before netmask specification')
        mask = parse_ip(netmask)
        if mask is None:
            return _refused(info, 'invalid IP mask "%s": Name or service not known' % netmask)
        if mask.version != ip.version:
            return _refused(info, 'IP address and mask do not match')
        prefix = netmask_to_prefix(mask)
        if prefix is None:
            return _refused(info, 'netmask "%s" is not contiguous; rule kept but has no CIDR form' % netmask)
    info['prefix_len'] = prefix
    info['cidr'] = format_network(ipaddress.ip_network('%s/%d' % (ip, prefix), strict=False))
    return info


def _new_rule(path, line, text):
    return {'file': path, 'line': line, 'type': None, 'database': [], 'user': [], 'address': None,
            'netmask': None, 'address_kind': None, 'cidr': None, 'family': None, 'prefix_len': None,
            'method': None, 'options': {}, 'error': None, 'text': text}


def _single(fields, missing, what):
    """((text, quoted), None) of the next field when it holds one value, else (None, PostgreSQL's error)."""
    if not fields:
        return None, 'end-of-line before %s' % missing
    values = fields.pop(0)
    if len(values) > 1:
        return None, 'multiple values specified for %s' % what
    return values[0], None


def _check_rule(fields, rule):
    """Fill rule from tokenized fields like parse_hba_line; returns an error message or None."""
    fields = list(fields)
    conntype = fields.pop(0)
    if len(conntype) > 1:
        return 'multiple values specified for connection type'
    rule['type'] = conntype[0][0]
    if rule['type'] not in CONNECTION_TYPES:
        return 'invalid connection type "%s"' % rule['type']
    if not fields:
        return 'end-of-line before database specification'
    rule['database'] = [_display_token(text, quoted, DATABASE_KEYWORDS) for text, quoted in fields.pop(0)]
    if not fields:
        return 'end-of-line before role specification'
    rule['user'] = [_display_token(text, quoted, USER_KEYWORDS) for text, quoted in fields.pop(0)]
    if rule['type'] != 'local':
        if not fields:
            return 'end-of-line before IP address specification'
        address = fields.pop(0)
        if len(address) > 1:
            return 'multiple values specified for host address'
        text, quoted = address[0]
        rule['address'] = text
        if quoted and text in ADDRESS_KEYWORDS:
            rule.update({'address_kind': 'hostname'})
        else:
            needs_mask = '/' not in text and parse_ip(text) is not None
            if needs_mask:
                netmask, error = _single(fields, 'netmask specification', 'netmask')
                if error:
                    return error
                rule['netmask'] = netmask[0]
            info = describe_address(text, rule['netmask'])
            error = info.pop('error')
            rule.update(info)
            if error and rule['prefix_len'] is None and not error.startswith('netmask "'):
                return error
    method, error = _single(fields, 'authentication method', 'authentication type')
    if error:
        return error
    rule['method'] = method[0]
    error = _check_method(rule)
    if error:
        return error
    for field in fields:
        for text, _quoted in field:
            name, equals, value = text.partition('=')
            if not equals:
                return 'authentication option not in name=value format: %s' % text
            rule['options'][name] = REDACTED if name in SECRET_OPTIONS else value
            error = _check_option(rule, name, value)
            if error:
                return error
    return _check_required_options(rule)


def _check_method(rule):
    method, conntype = rule['method'], rule['type']
    if method not in AUTH_METHODS:
        return 'invalid authentication method "%s"' % method
    if method in UNSUPPORTED_METHODS:
        return 'invalid authentication method "%s": not supported by this build' % method
    if conntype == 'local' and method in ('gss', 'sspi'):
        return '%s authentication is not supported on local sockets' % ('gssapi' if method == 'gss' else method)
    if conntype != 'local' and method == 'peer':
        return 'peer authentication is only supported on local sockets'
    if conntype != 'hostssl' and method == 'cert':
        return 'cert authentication is only supported on hostssl connections'
    return None


def _check_option(rule, name, value):
    if name not in OPTION_METHODS:
        return 'unrecognized authentication option name: "%s"' % name
    allowed = OPTION_METHODS[name]
    method = 'peer' if rule['method'] == 'ident' and rule['type'] == 'local' else rule['method']
    if allowed is not None and method not in allowed:
        return 'authentication option "%s" is only valid for authentication methods %s' % (name, ', '.join(allowed))
    if name == 'clientcert':
        if rule['type'] != 'hostssl':
            return 'clientcert can only be configured for "hostssl" rows'
        if value not in ('verify-ca', 'verify-full'):
            return 'invalid value for clientcert: "%s"' % value
        if rule['method'] == 'cert' and value != 'verify-full':
            return 'clientcert can only be set to "verify-full" when using "cert" authentication'
    if name == 'clientname':
        if rule['type'] != 'hostssl':
            return 'clientname can only be configured for "hostssl" rows'
        if value not in ('CN', 'DN'):
            return 'invalid value for clientname: "%s"' % value
    return None


def _check_required_options(rule):
    options = rule['options']
    if rule['method'] == 'radius' and 'radiusservers' not in options:
        return 'authentication method "radius" requires argument "radiusservers" to be set'
    if rule['method'] == 'ldap' and 'ldapserver' not in options and 'ldapurl' not in options:
        return 'authentication method "ldap" requires argument "ldapserver" to be set'
    return None


def _expand_at_file(resolver, name, calling_file, line_number, stack, errors):
    """Tokens of an @file (relative to calling_file), nested @files included; problems go to errors."""
    index = len(resolver.includes)
    tokens = []
    for child_path, child_text in resolver.expand('@', name, calling_file, line_number, stack):
        hook = functools.partial(_expand_at_file, resolver, calling_file=child_path, line_number=line_number,
                                 stack=stack + (child_path,), errors=errors)
        for _number, child_line in _logical_lines(child_text):
            for field in _tokenize_fields(child_line, hook):
                tokens.extend(field)
    if resolver.includes[index]['error']:
        errors.append(resolver.includes[index]['error'])
    return tokens


def _parse_file(result, resolver, path, text, stack):
    """Append the rules of one file (and its includes) to result."""
    for line_number, line in _logical_lines(text):
        errors = []

        hook = functools.partial(_expand_at_file, resolver, calling_file=path, line_number=line_number,
                                 stack=stack, errors=errors)
        fields = _tokenize_fields(line, hook)
        if not fields and not errors:
            continue
        if not errors and len(fields) == 2 and fields[0][0][0] in INCLUDE_DIRECTIVES:
            directive, target = fields[0][0][0], fields[1][0][0]
            for child_path, child_text in resolver.expand(directive, target, path, line_number, stack):
                _parse_file(result, resolver, child_path, child_text, stack + (child_path,))
            continue
        rule = _new_rule(path, line_number, line)
        rule['error'] = errors[0] if errors else _check_rule(fields, rule)
        result['rules'].append(rule)


def parse_hba(path, read_file, list_dir=None):
    """Parse a pg_hba.conf with its include/include_if_exists/include_dir files and @files.

    Returns {"rules": [rule dicts in evaluation order, invalid ones with "error"],
    "files": [...], "includes": [...], "errors": [{file, line, message}], "valid": bool}.
    Include errors appear in "errors" only; a rule with an error makes PostgreSQL
    refuse to load the whole file.
    """
    result = {'rules': []}
    resolver = IncludeResolver(read_file, list_dir)
    text = resolver.open_top(path)
    if text is not None:
        _parse_file(result, resolver, path, text, (path,))
    rule_errors = [{'file': rule['file'], 'line': rule['line'], 'message': rule['error']}
                   for rule in result['rules'] if rule['error']]
    seen = set()
    errors = []
    for error in rule_errors + resolver.errors:
        key = (error['file'], error['line'], error['message'])
        if key not in seen:
            seen.add(key)
            errors.append(error)
    result.update({'files': resolver.files, 'includes': resolver.includes,
                   'errors': sort_errors(errors, resolver.files)})
    result['valid'] = not result['errors']
    return result


def parse_hba_text(text, filename='pg_hba.conf'):
    """Parse pg_hba.conf text on its own; include directives and @files are reported as unreadable."""
    def read_file(path):
        return text if path == filename else None
    return parse_hba(filename, read_file)


def rule_covers_all_addresses(rule):
    """True when a host* rule accepts connections from any address (all, 0.0.0.0/0, ::/0)."""
    if rule.get('type') == 'local' or rule.get('address') is None:
        return False
    if rule.get('address_kind') == 'all':
        return True
    return rule.get('prefix_len') == 0 and rule.get('address_kind') == 'cidr'


def hba_file_rules_query(server_version_num):
    """(query, columns) reading pg_hba_file_rules on the given server version (e.g. 160004)."""
    columns = HBA_FILE_RULES_COLUMNS_PG16 if server_version_num >= 160000 else HBA_FILE_RULES_COLUMNS
    order = 'rule_number, file_name, line_number' if server_version_num >= 160000 else 'line_number'
    return 'SELECT %s FROM pg_catalog.pg_hba_file_rules ORDER BY %s' % (', '.join(columns), order), columns


def parse_hba_file_rules(text, columns=HBA_FILE_RULES_COLUMNS, field_sep=FIELD_SEP, record_sep=RECORD_SEP):
    """Rows of hba_file_rules_query as rule dicts shaped like parse_hba's (no "text").

    The view prints CIDR masks as a netmask, so "cidr"/"prefix_len" are recomputed;
    "file" is set from file_name on PostgreSQL 16+, else None.
    """
    rules = []
    for row in parse_unaligned(text, columns, field_sep, record_sep):
        rule = _new_rule(empty_to_none(row.get('file_name', '')), parse_int(row['line_number']), None)
        del rule['text']
        rule['rule_number'] = parse_int(row.get('rule_number'))
        rule['type'] = empty_to_none(row['type'])
        rule['database'] = parse_pg_array(row['database']) or []
        rule['user'] = parse_pg_array(row['user_name']) or []
        rule['address'] = empty_to_none(row['address'])
        rule['netmask'] = empty_to_none(row['netmask'])
        rule['method'] = empty_to_none(row['auth_method'])
        for option in parse_pg_array(row['options']) or []:
            name, _equals, value = option.partition('=')
            rule['options'][name] = REDACTED if name in SECRET_OPTIONS else value
        rule['error'] = empty_to_none(row['error'])
        if rule['address'] is not None:
            info = describe_address(rule['address'], rule['netmask'])
            info.pop('error')
            rule.update(info)
        rules.append(rule)
    return rules


def address_covers_everything(address, netmask=None):
    """True for the pg_hba address keyword all and for 0.0.0.0/0, ::/0 (also given as address + netmask)."""
    if address == 'all':
        return True
    if address in ('samehost', 'samenet'):
        return False
    return covers_everything(address, netmask)
