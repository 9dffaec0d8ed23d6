# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing of ``psql`` unaligned output and PostgreSQL array literals.

Run queries as ``psql`` + PSQL_UNALIGNED_ARGS + ``['-c', query]``: unaligned, tuples
only, no psqlrc, fields separated by \\x1f and records by \\x1e, so values may contain
'|' or newlines. psql prints SQL NULL as an empty string.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

FIELD_SEP = '\x1f'
RECORD_SEP = '\x1e'
PSQL_UNALIGNED_ARGS = ['-X', '-A', '-t', '-F', FIELD_SEP, '-R', RECORD_SEP]


def parse_unaligned(text, columns, field_sep=FIELD_SEP, record_sep=RECORD_SEP):
    """Rows of ``psql -At`` output as dicts keyed by ``columns`` (values are strings).

    Raises ValueError when a record has the wrong number of fields.
    """
    if text.endswith('\n'):
        text = text[:-1]
    if text.endswith('\r'):
        text = text[:-1]
    if text == '':
        return []
    rows = []
    for number, record in enumerate(text.split(record_sep), 1):
        fields = record.split(field_sep)
        if len(fields) != len(columns):
            raise ValueError('psql record %d has %d fields, expected %d' % (number, len(fields), len(columns)))
        rows.append(dict(zip(columns, fields)))
    return rows


def parse_pg_array(text):
    """Python list for a PostgreSQL array literal such as {a,"b c",NULL}; None for ''/None.

    Unquoted NULL becomes None; nested arrays become nested lists.
    """
    if text is None or text == '':
        return None
    text = text.strip()
    if text.startswith('[') and '=' in text:  # explicit bounds: [0:1]={a,b}
        text = text.split('=', 1)[1]
    if not text.startswith('{'):
        raise ValueError('not an array literal: %r' % text)
    value, end = _parse_array(text, 0)
    if text[end:].strip():
        raise ValueError('trailing data after array literal: %r' % text)
    return value


def _parse_array(text, pos):
    """Parse the array starting at text[pos] == '{'; returns (list, next position)."""
    items = []
    pos += 1
    if pos < len(text) and text[pos] == '}':
        return items, pos + 1
    while pos < len(text):
        while pos < len(text) and text[pos] in ' \t\n\r':
            pos += 1
        if pos >= len(text):
            break
        char = text[pos]
        if char == '{':
            item, pos = _parse_array(text, pos)
        elif char == '"':
            pos += 1
            chars = []
            while pos < len(text) and text[pos] != '"':
                if text[pos] == '\\' and pos + 1 < len(text):
                    pos += 1
                chars.append(text[pos])
                pos += 1
            if pos >= len(text):
                raise ValueError('unterminated quoted array element: %r' % text)
            item = ''.join(chars)
            pos += 1
        else:
            start = pos
            chars = []
            while pos < len(text) and text[pos] not in ',}':
                if text[pos] == '\\' and pos + 1 < len(text):
                    pos += 1
                chars.append(text[pos])
                pos += 1
            raw = text[start:pos].strip()
            item = None if raw.upper() == 'NULL' else ''.join(chars).strip()
        items.append(item)
        while pos < len(text) and text[pos] in ' \t\n\r':
            pos += 1
        if pos < len(text) and text[pos] == ',':
            pos += 1
            continue
        if pos < len(text) and text[pos] == '}':
            return items, pos + 1
        break
    raise ValueError('malformed array literal: %r' % text)


def empty_to_none(value):
    """psql prints NULL as ''; map it back to None."""
    return None if value == '' else value


def parse_bool(value):
    """Boolean text the way PostgreSQL's parse_bool reads it (unique prefixes of true/false/yes/no, on/off, 1/0); None if invalid."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if not lowered:
        return None
    for word, result, minimum in (('true', True, 1), ('false', False, 1), ('yes', True, 1),
                                  ('no', False, 1), ('on', True, 2), ('off', False, 2)):
        if len(lowered) >= minimum and word.startswith(lowered):
            return result
    if lowered == '1':
        return True
    if lowered == '0':
        return False
    return None


def parse_int(value):
    """int of a decimal string, None for ''/None/garbage."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_user(io, user, argv, only_as_root=False):
    """argv run as the OS user through runuser (the one place that builds the prefix).

    Unchanged for root, for no user, without runuser, and with only_as_root when this process is
    not root (facts may run unprivileged and then query as itself).
    """
    if not user or user == 'root' or (only_as_root and os.geteuid() != 0):
        return argv
    runuser = io.which('runuser')
    return [runuser, '-u', user, '--'] + list(argv) if runuser else argv


def run_psql(io, psql, sql, socket_dir, port, user, only_as_root=False):
    """(rc, stdout, stderr) of one query over the server's Unix socket, as user, no psqlrc, unaligned tuples."""
    argv = as_user(io, user, [psql, '-X', '-A', '-t', '-q', '-h', socket_dir, '-p', str(port), '-d', 'postgres',
                              '-v', 'ON_ERROR_STOP=1', '-c', sql], only_as_root)
    return io.run(argv, environ_update={'PGCONNECT_TIMEOUT': '5', 'LC_ALL': 'C'})
