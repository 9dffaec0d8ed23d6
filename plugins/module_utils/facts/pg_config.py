# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql.conf parsing with PostgreSQL's own lexical rules (src/backend/utils/misc/guc-file.l).

A line is ``name [=] value`` with an optional ``# comment``. Values are identifiers,
unquoted strings (letters, digits, ``-._:/``), numbers with unit letters, or single-quoted
strings where '' and backslash escapes work. Names compare case-insensitively and the
last occurrence wins; postgresql.auto.conf is read after postgresql.conf. Anything else on
a line is a syntax error, which makes PostgreSQL refuse the whole file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import (
    INCLUDE_DIRECTIVES,
    IncludeResolver,
    sort_errors,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.psql import (
    empty_to_none,
    parse_bool,
    parse_int,
    parse_unaligned,
    FIELD_SEP,
    RECORD_SEP,
)

AUTO_CONF_NAME = 'postgresql.auto.conf'
MAX_SYNTAX_ERRORS_PER_FILE = 100


def _ascii_or_any_other(allowed):
    """A class of the ``allowed`` ASCII characters and every non-ASCII one.

    Written as "none of the other ASCII characters": re takes about 10 ms to compile a class that
    spans \\u0080-\\U0010ffff, paid on every module start by each pattern that holds one.
    """
    return u'[^%s]' % ''.join('\\x%02x' % code for code in range(128) if chr(code) not in allowed)


# Token patterns of guc-file.l, tried with flex's "longest match, then first rule" choice. Its LETTER is
# [A-Za-z_] and every byte from 0x80 on, so here every non-ASCII character.
_ASCII_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_'
_DIGITS = '0123456789'
_ID = _ascii_or_any_other(_ASCII_LETTERS) + _ascii_or_any_other(_ASCII_LETTERS + _DIGITS) + '*'
_TOKEN_RULES = (
    ('EOL', re.compile(r'\n')),
    ('SPACE', re.compile(r'[ \t\r]+')),
    ('COMMENT', re.compile(r'#[^\n]*')),
    ('ID', re.compile(_ID)),
    ('QUALIFIED_ID', re.compile(u'%s\\.%s' % (_ID, _ID))),
    ('STRING', re.compile(r"'(?:[^'\\\n]|\\.|'')*'")),
    ('UNQUOTED_STRING', re.compile(_ascii_or_any_other(_ASCII_LETTERS)
                                   + _ascii_or_any_other(_ASCII_LETTERS + _DIGITS + '-._:/') + '*')),
    ('INTEGER', re.compile(r'[-+]?(?:0x[0-9a-fA-F]+|[0-9]+)[a-zA-Z]*')),
    ('REAL', re.compile(r'[-+]?[0-9]*\.[0-9]*(?:[Ee][-+]?[0-9]+)?')),
    ('EQUALS', re.compile(r'=')),
)
_VALUE_TOKENS = ('ID', 'STRING', 'INTEGER', 'REAL', 'UNQUOTED_STRING')
_NAME_TOKENS = ('ID', 'QUALIFIED_ID')
_ESCAPES = {'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

# How PostgreSQL splits list-valued settings (SplitGUCList, SplitDirectoriesString, SplitIdentifierString).
LIST_SETTING_STYLES = {
    'listen_addresses': 'guc_list',
    'unix_socket_directories': 'directories',
    'shared_preload_libraries': 'directories',
    'session_preload_libraries': 'directories',
    'local_preload_libraries': 'directories',
    'search_path': 'identifiers',
    'ssl_ciphers': None,
}

PG_SETTINGS_COLUMNS = ('name', 'setting', 'unit', 'context', 'source', 'sourcefile', 'sourceline',
                       'pending_restart', 'vartype', 'boot_val', 'reset_val')
PG_SETTINGS_QUERY = ('SELECT %s FROM pg_catalog.pg_settings ORDER BY name'
                     % ', '.join(PG_SETTINGS_COLUMNS))


def _tokens(text):
    """Yield (kind, text, line) like guc-file.l's yylex; whitespace and comments are dropped, 'ERROR' is one bad character."""
    pos, line, length = 0, 1, len(text)
    while pos < length:
        best_kind, best_end = None, pos
        for kind, pattern in _TOKEN_RULES:
            match = pattern.match(text, pos)
            if match and match.end() > best_end:
                best_kind, best_end = kind, match.end()
        if best_kind is None:
            yield 'ERROR', text[pos], line
            pos += 1
            continue
        value = text[pos:best_end]
        pos = best_end
        if best_kind == 'EOL':
            yield 'EOL', value, line
            line += 1
        elif best_kind not in ('SPACE', 'COMMENT'):
            yield best_kind, value, line


def unquote_config_string(token):
    """Value of a single-quoted postgresql.conf string (DeescapeQuotedString)."""
    body = token[1:-1]
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == '\\' and i + 1 < len(body):
            i += 1
            char = body[i]
            if char in _ESCAPES:
                out.append(_ESCAPES[char])
            elif '0' <= char <= '7':
                digits = re.match(r'[0-7]{1,3}', body[i:]).group(0)
                out.append(chr(int(digits, 8) & 0xff))
                i += len(digits) - 1
            else:
                out.append(char)
        elif char == "'" and body[i + 1:i + 2] == "'":
            out.append("'")
            i += 1
        else:
            out.append(char)
        i += 1
    return ''.join(out)


def quote_config_value(value):
    """Single-quoted postgresql.conf literal for a value (for writers and messages)."""
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "''").replace('\n', '\\n')


def parse_config_text(text, filename=None):
    """Lines of one file without following includes.

    Returns {"entries": [{"name", "value", "line", "quoted"}], "errors": [{"file", "line", "message"}]}
    where "name" is lowercased; include directives appear as entries named include*.
    """
    entries, errors = [], []
    tokens = _tokens(text)
    for kind, token, line in tokens:
        if kind == 'EOL':
            continue
        bad = None
        if kind not in _NAME_TOKENS:
            bad = (kind, token)
        else:
            name = token
            kind, token, line2 = next(tokens, (None, None, line))
            if kind == 'EQUALS':
                kind, token, line2 = next(tokens, (None, None, line))
            if kind not in _VALUE_TOKENS:
                bad = (kind, token)
            else:
                quoted = kind == 'STRING'
                value = unquote_config_string(token) if quoted else token
                kind, token, line2 = next(tokens, (None, None, line))
                if kind not in ('EOL', None):
                    bad = (kind, token)
                else:
                    entries.append({'name': name.lower(), 'value': value, 'line': line, 'quoted': quoted})
        if bad is None:
            continue
        bad_kind, bad_token = bad
        if bad_kind in ('EOL', None):
            message = 'syntax error in file "%s" line %d, near end of line' % (filename, line)
        else:
            message = 'syntax error in file "%s" line %d, near token "%s"' % (filename, line, bad_token)
        errors.append({'file': filename, 'line': line, 'message': message})
        if len(errors) >= MAX_SYNTAX_ERRORS_PER_FILE:
            errors.append({'file': filename, 'line': line,
                           'message': 'too many syntax errors found, abandoning file "%s"' % filename})
            break
        while bad_kind not in ('EOL', None):  # resync to end of line
            bad_kind, bad_token, line = next(tokens, (None, None, line))
    return {'entries': entries, 'errors': errors}


def _new_result():
    return {'settings': {}, 'occurrences': [], 'files': [], 'includes': [], 'errors': [], 'valid': True}


def _parse_into(result, resolver, path, text, stack):
    parsed = parse_config_text(text, path)
    result['errors'].extend(parsed['errors'])
    for entry in parsed['entries']:
        if entry['name'] in INCLUDE_DIRECTIVES:
            children = resolver.expand(entry['name'], entry['value'], path, entry['line'], stack)
            for child_path, child_text in children:
                _parse_into(result, resolver, child_path, child_text, stack + (child_path,))
            continue
        occurrence = {'name': entry['name'], 'value': entry['value'], 'file': path, 'line': entry['line']}
        result['occurrences'].append(occurrence)
        result['settings'][entry['name']] = occurrence


def _finish(result, resolver):
    result['files'] = resolver.files
    result['includes'] = resolver.includes
    result['errors'] = sort_errors(result['errors'] + resolver.errors, resolver.files)
    result['valid'] = not result['errors']
    return result


def parse_config(path, read_file, list_dir=None):
    """Parse one configuration file and everything it includes.

    Returns {"settings": {name: {name, value, file, line}} (effective, last wins),
    "occurrences": [every assignment in reading order], "files": [files read],
    "includes": [{directive, target, file, line, paths, found, error}],
    "errors": [{file, line, message}], "valid": bool}.
    """
    result = _new_result()
    resolver = IncludeResolver(read_file, list_dir)
    text = resolver.open_top(path)
    if text is not None:
        _parse_into(result, resolver, path, text, (path,))
    return _finish(result, resolver)


def parse_server_config(config_file, read_file, list_dir=None, data_directory=None):
    """Parse postgresql.conf and then postgresql.auto.conf as the server does.

    The auto file is looked for in the data_directory set in config_file, else the
    given data_directory (-D / PGDATA), else config_file's directory. Same result as
    parse_config plus "auto_conf" (its path) and "data_directory".
    """
    result = _new_result()
    resolver = IncludeResolver(read_file, list_dir)
    text = resolver.open_top(config_file)
    if text is not None:
        _parse_into(result, resolver, config_file, text, (config_file,))
    configured = result['settings'].get('data_directory')
    if configured and configured['value']:
        data_dir = configured['value']
    elif data_directory:
        data_dir = data_directory
    else:
        data_dir = posixpath.dirname(config_file)
    auto_conf = posixpath.join(data_dir, AUTO_CONF_NAME)
    auto_text = resolver.open_top(auto_conf, missing_ok=True)
    if auto_text is not None:
        _parse_into(result, resolver, auto_conf, auto_text, (auto_conf,))
    result['auto_conf'] = auto_conf
    result['data_directory'] = data_dir
    return _finish(result, resolver)


def _is_scanner_space(char):
    return char in ' \t\n\r\f\v'


def split_list(value, style='guc_list'):
    """Split a list-valued setting the way PostgreSQL does; None when the syntax is invalid.

    style 'guc_list' (listen_addresses): elements end at commas or whitespace and
    may be double-quoted ("" is a literal quote). 'identifiers' (search_path): same,
    unquoted elements are lowercased. 'directories' (unix_socket_directories,
    *_preload_libraries): unquoted elements may contain spaces, paths are canonicalised.
    """
    items = []
    pos, length = 0, len(value)
    while pos < length and _is_scanner_space(value[pos]):
        pos += 1
    if pos == length:
        return items
    while True:
        if pos == length:
            return None  # a separator must be followed by another element
        if value[pos] == '"':
            chars = []
            pos += 1
            while True:
                end = value.find('"', pos)
                if end < 0:
                    return None
                chars.append(value[pos:end])
                if value[end + 1:end + 2] == '"':
                    chars.append('"')
                    pos = end + 2
                    continue
                pos = end + 1
                break
            item = ''.join(chars)
        else:
            start = end = pos
            while pos < length and value[pos] != ',':
                if style != 'directories' and _is_scanner_space(value[pos]):
                    break
                pos += 1
                if not _is_scanner_space(value[pos - 1]):
                    end = pos
            item = value[start:end]
            if not item:
                return None
            if style == 'identifiers':
                item = item.lower()
        if style == 'directories':
            item = canonicalize_path(item)
        items.append(item)
        while pos < length and _is_scanner_space(value[pos]):
            pos += 1
        if pos == length:
            return items
        if value[pos] != ',':
            return None
        pos += 1
        while pos < length and _is_scanner_space(value[pos]):
            pos += 1


def canonicalize_path(path):
    """Approximation of PostgreSQL's canonicalize_path: collapse //, /./, trailing / and dir/.. pairs."""
    if not path:
        return path
    normalized = posixpath.normpath(path)
    if normalized.startswith('//'):
        normalized = '/' + normalized.lstrip('/')
    return normalized


def split_setting(name, value):
    """Elements of a list-valued setting (see LIST_SETTING_STYLES); [value] for other settings, None if invalid."""
    style = LIST_SETTING_STYLES.get(name.lower())
    if style is None:
        return [value]
    return split_list(value, style)


def parse_postgres_c_output(stdout):
    """Value printed by ``postgres -C name`` (stdout without its final newline)."""
    if stdout.endswith('\n'):
        stdout = stdout[:-1]
    if stdout.endswith('\r'):
        stdout = stdout[:-1]
    return stdout


def parse_pg_settings(text, field_sep=FIELD_SEP, record_sep=RECORD_SEP):
    """Rows of PG_SETTINGS_QUERY run with psql.PSQL_UNALIGNED_ARGS, keyed by lowercased name.

    Each value is a dict of PG_SETTINGS_COLUMNS with NULLs as None, sourceline as int
    and pending_restart as bool.
    """
    settings = {}
    for row in parse_unaligned(text, PG_SETTINGS_COLUMNS, field_sep, record_sep):
        for column in ('unit', 'sourcefile', 'boot_val', 'reset_val', 'source', 'context', 'vartype'):
            row[column] = empty_to_none(row[column])
        row['sourceline'] = parse_int(row['sourceline'])
        row['pending_restart'] = parse_bool(row['pending_restart']) or False
        settings[row['name'].lower()] = row
    return settings
