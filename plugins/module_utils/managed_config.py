# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The managed drop-in: planning a change of server settings as new file contents.

Each role owns one file ``pgsec.d/<owner>.conf`` next to postgresql.conf, included by an
``include_dir = 'pgsec.d'`` line at the end of postgresql.conf. A managed setting has exactly
one source: every other active assignment of it (earlier or later in postgresql.conf, in other
included files, in postgresql.auto.conf from ALTER SYSTEM) is commented out or removed, so
nothing can silently win over the drop-in and the files say what the server uses.

Everything here is pure: it reads through ``read_file(path) -> text | None`` and
``list_dir(path) -> [names] | None`` and returns new contents; the module writes them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import posixpath
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_config import (
    LIST_SETTING_STYLES,
    parse_server_config,
    quote_config_value,
    split_setting,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import absolute_config_location

DROP_IN_DIR = 'pgsec.d'
INCLUDE_LINE = "include_dir = '%s'\t\t# pgsec.hardening: access settings; keep this line last" % DROP_IN_DIR
SUPERSEDED_MARK = '# superseded by pgsec.hardening (%s): '
OWNER_PATTERN = re.compile(r'^[a-z][a-z0-9_-]{0,31}$')
SETTING_NAME = re.compile(r'^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$')
CONFLICT_MODES = ('supersede', 'fail')
# Staged into each included directory so that an empty one exists; include_dir skips the name.
STAGED_DIR_KEEP = '.pgsec-stage-keep'


class ConfigPlanError(ValueError):
    """The change cannot be planned; the message says which file, line or value."""


def drop_in_directory(config_file):
    return posixpath.join(posixpath.dirname(config_file), DROP_IN_DIR)


def drop_in_path(config_file, owner):
    return posixpath.join(drop_in_directory(config_file), '%s.conf' % owner)


def config_text_value(value):
    """A setting value as postgresql.conf text: lists joined, booleans on/off, always quoted."""
    if isinstance(value, bool):
        value = 'on' if value else 'off'
    elif isinstance(value, (list, tuple)):
        value = ', '.join(str(item) for item in value)
    return quote_config_value(str(value))


def render_drop_in(owner, settings):
    lines = [
        '# Managed by pgsec.hardening (role %s). Changes made here are overwritten.' % owner,
        '# These settings are set only here: other assignments of them are commented out.',
    ]
    for name in sorted(settings):
        lines.append('%s = %s' % (name, config_text_value(settings[name])))
    return '\n'.join(lines) + '\n'


def normalize_setting_value(name, value):
    """A comparable form of a setting value as written, shown by pg_settings or printed by postgres -C."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 'on' if value else 'off'
    is_list_setting = LIST_SETTING_STYLES.get(name.lower()) is not None
    if isinstance(value, (list, tuple)):
        items = [str(item).strip() for item in value]
        # split as the server will split the rendered value (config_text_value joins with ', ')
        elements = split_setting(name, ', '.join(items)) if is_list_setting else None
        return tuple(elements if elements is not None else items)
    text = str(value).strip()
    if name == 'unix_socket_permissions':
        try:
            return '%04o' % int(text, 8 if text.startswith('0') else 10)
        except ValueError:
            return text
    elements = split_setting(name, text)
    if elements is not None and is_list_setting:
        return tuple(elements)
    if text.lower() in ('on', 'true', 'yes'):
        return 'on'
    if text.lower() in ('off', 'false', 'no'):
        return 'off'
    return text


def same_value(name, first, second):
    return normalize_setting_value(name, first) == normalize_setting_value(name, second)


def _comment_out(text, line_numbers, drop_in_name):
    lines = text.split('\n')
    for number in sorted(set(line_numbers)):
        index = number - 1
        if 0 <= index < len(lines) and not lines[index].lstrip().startswith('#'):
            lines[index] = (SUPERSEDED_MARK % drop_in_name) + lines[index]
    return '\n'.join(lines)


def _remove_lines(text, line_numbers):
    drop = set(number - 1 for number in line_numbers)
    return '\n'.join(line for index, line in enumerate(text.split('\n')) if index not in drop)


def _has_drop_in_include(parsed, config_file):
    wanted = drop_in_directory(config_file)
    for include in parsed['includes']:
        if include['directive'] != 'include_dir' or include['file'] != config_file:
            continue
        if posixpath.normpath(absolute_config_location(include['target'], include['file'])) == wanted:
            return True
    return False


def _append_line(text, line):
    if text and not text.endswith('\n'):
        text += '\n'
    return text + line + '\n'


def plan(config_file, data_directory, owner, settings, read_file, list_dir, conflicts='supersede'):
    """New contents that make ``settings`` the effective values, owned by ``owner``'s drop-in.

    Returns {"drop_in": path, "auto_conf": path, "files": {path: {"before": text|None, "after": text}}
    (only files that change), "superseded": [{"name", "value", "file", "line", "removed"}],
    "parsed": the current parse}. Raises ConfigPlanError when the current configuration cannot
    be parsed, a conflict must not be touched (conflicts='fail' or a file outside the
    configuration directory), or an input is invalid.
    """
    if not OWNER_PATTERN.match(owner or ''):
        raise ConfigPlanError('owner: %r is not a valid drop-in name (lowercase letters, digits, - and _)' % (owner,))
    if conflicts not in CONFLICT_MODES:
        raise ConfigPlanError('conflicts: %r is not one of %s' % (conflicts, ', '.join(CONFLICT_MODES)))
    for name in settings:
        if not SETTING_NAME.match(name):
            raise ConfigPlanError('settings: %r is not a setting name' % (name,))
    parsed = parse_server_config(config_file, read_file, list_dir, data_directory)
    if parsed['errors']:
        first = parsed['errors'][0]
        raise ConfigPlanError('the current configuration has errors; fix them first: %s:%s: %s'
                              % (first['file'], first['line'], first['message']))

    drop_in = drop_in_path(config_file, owner)
    drop_in_name = posixpath.join(DROP_IN_DIR, posixpath.basename(drop_in))
    config_dir = posixpath.dirname(config_file)
    auto_conf = parsed['auto_conf']
    contents = {}

    def current(path):
        if path not in contents:
            contents[path] = read_file(path)
        return contents[path]

    new = {drop_in: render_drop_in(owner, settings)}
    superseded = []
    edits = {}
    for occurrence in parsed['occurrences']:
        if occurrence['name'] not in settings or occurrence['file'] == drop_in:
            continue
        path = occurrence['file']
        removed = path == auto_conf
        inside = path == config_file or path.startswith(config_dir + '/')
        if conflicts == 'fail' or not (removed or inside):
            raise ConfigPlanError(
                '%s is also set in %s line %d (%s = %r); %s' % (
                    occurrence['name'], path, occurrence['line'], occurrence['name'], occurrence['value'],
                    'remove it or use conflicts=supersede' if conflicts == 'fail'
                    else 'that file is outside the configuration directory; remove the line there'))
        superseded.append({'name': occurrence['name'], 'value': occurrence['value'], 'file': path,
                           'line': occurrence['line'], 'removed': removed})
        edits.setdefault(path, []).append(occurrence['line'])

    for path, line_numbers in edits.items():
        text = current(path) or ''
        new[path] = _remove_lines(text, line_numbers) if path == auto_conf else _comment_out(text, line_numbers, drop_in_name)

    if not _has_drop_in_include(parsed, config_file):
        new[config_file] = _append_line(new.get(config_file, current(config_file) or ''), INCLUDE_LINE)

    files = {}
    for path, after in new.items():
        before = current(path)
        if before != after:
            files[path] = {'before': before, 'after': after}
    return {'drop_in': drop_in, 'auto_conf': auto_conf, 'files': files, 'superseded': superseded, 'parsed': parsed}


def staged_path(path, config_file, auto_conf, stage_root):
    """Where a file of the live configuration lives in a staging copy (None: read in place)."""
    config_dir = posixpath.dirname(config_file)
    if path == auto_conf:
        return posixpath.join(stage_root, 'data', posixpath.basename(auto_conf))
    if path == config_file or path.startswith(config_dir + '/'):
        return posixpath.join(stage_root, 'config', posixpath.relpath(path, config_dir))
    return None


def staging_files(config_plan, config_file, stage_root, read_file):
    """{staged path: text} of every configuration file the server reads, with the planned contents.

    Files outside the configuration directory are read in place by the staged server (they
    do not change). The staged data directory holds only postgresql.auto.conf.
    """
    parsed = config_plan['parsed']
    auto_conf = config_plan['auto_conf']
    staged = {}
    for path in list(parsed['files']) + list(config_plan['files']):
        target = staged_path(path, config_file, auto_conf, stage_root)
        if target is None or target in staged:
            continue
        change = config_plan['files'].get(path)
        staged[target] = change['after'] if change else read_file(path)
    for include in parsed['includes']:
        # An included directory may hold no file (Debian's conf.d): it must exist in the stage too.
        if include['directive'] != 'include_dir' or include['error']:
            continue
        directory = absolute_config_location(include['target'], include['file'])
        target = staged_path(posixpath.join(directory, STAGED_DIR_KEEP), config_file, auto_conf, stage_root)
        if target is not None:
            staged.setdefault(target, '')
    auto_target = staged_path(auto_conf, config_file, auto_conf, stage_root)
    staged.setdefault(auto_target, '')
    return dict((path, text) for path, text in staged.items() if text is not None)


def classify(settings, running, contexts, server_running):
    """Which settings differ from the running server and how each takes effect.

    ``running``: {name: value} of the running server (pg_settings), ``contexts``: {name: context}.
    Returns {"changes": [{"name", "before", "after", "context", "applies_by"}], "restart": bool,
    "reload": bool}; applies_by is restart (context postmaster), reload, or start (server stopped).
    """
    changes = []
    for name in sorted(settings):
        before = running.get(name)
        if server_running and same_value(name, before, settings[name]):
            continue
        context = contexts.get(name)
        if not server_running and before is not None and same_value(name, before, settings[name]):
            continue
        if context == 'internal':
            raise ConfigPlanError('settings: %s cannot be changed (context internal)' % name)
        if not server_running:
            applies_by = 'start'
        elif context == 'postmaster':
            applies_by = 'restart'
        else:
            applies_by = 'reload'
        changes.append({'name': name, 'before': before, 'after': settings[name], 'context': context,
                        'applies_by': applies_by})
    return {'changes': changes,
            'restart': any(change['applies_by'] == 'restart' for change in changes),
            'reload': any(change['applies_by'] == 'reload' for change in changes)}
