# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File access and include-directive resolution shared by postgresql.conf and pg_hba.conf.

Parsers never touch the disk themselves: they take a ``read_file(path)`` callable that
returns the file's text, or None (or raises FileNotFoundError) when it does not exist,
and a ``list_dir(path)`` callable that returns the names of the regular files in a
directory, or None when the directory does not exist. Any other OSError is reported as
an error of the including line. ``local_read_file``/``local_list_dir`` read the real
disk, ``memory_files`` serves a dict (tests, or files fetched from a remote host).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import posixpath
import re

# PostgreSQL's CONF_FILE_MAX_DEPTH: includes may nest this deep.
CONF_FILE_MAX_DEPTH = 10

INCLUDE_DIRECTIVES = ('include', 'include_if_exists', 'include_dir')

_UNIT = re.compile(r'^(?:0:|\d+:name=systemd):.*/([^/]+\.service)$', re.M)


def parse_postmaster_pid(text):
    """postmaster.pid as {pid, data_directory, start_time, port, socket_directory, listen, status}; None if unusable."""
    if not text:
        return None
    lines = text.split('\n')
    try:
        pid = int(lines[0])
    except ValueError:
        return None

    def line(number):
        return lines[number].strip() if len(lines) > number else ''

    port = line(3)
    return {'pid': pid, 'data_directory': line(1), 'start_time': int(line(2)) if line(2).isdigit() else None,
            'port': int(port) if port.isdigit() else None, 'socket_directory': line(4) or None,
            'listen': line(5) or None, 'status': line(7) or None}


def unit_from_cgroup(text):
    """The systemd service a process (the postmaster of postmaster.pid) runs in, from /proc/PID/cgroup, or None."""
    match = _UNIT.search(text or '')
    return match.group(1) if match else None


def local_read_file(path):
    """Text of a file on the local disk (undecodable bytes replaced), None if missing."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    return data.decode('utf-8', 'replace')


def local_list_dir(path):
    """Names of the regular files (symlinks followed) in a local directory, None if missing."""
    try:
        names = os.listdir(path)
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    return [name for name in names if os.path.isfile(os.path.join(path, name))]


def memory_files(files):
    """(read_file, list_dir) callables serving a {absolute path: text} dict."""
    normalized = {posixpath.normpath(path): text for path, text in files.items()}

    def read_file(path):
        return normalized.get(posixpath.normpath(path))

    def list_dir(path):
        directory = posixpath.normpath(path)
        names = [posixpath.basename(name) for name in normalized
                 if posixpath.dirname(name) == directory]
        prefix = directory.rstrip('/') + '/'
        has_subtree = any(name.startswith(prefix) for name in normalized)
        if not names and not has_subtree:
            return None
        return sorted(names)

    return read_file, list_dir


def absolute_config_location(location, calling_file):
    """Resolve an include target like PostgreSQL: relative paths are taken from the including file's directory."""
    if not posixpath.isabs(location) and calling_file:
        location = posixpath.join(posixpath.dirname(calling_file), location)
    return posixpath.normpath(location)


def sort_errors(errors, files):
    """Errors ordered by the order files were read, then by line."""
    def key(error):
        index = files.index(error['file']) if error['file'] in files else len(files)
        return (index, error['line'] or 0)
    return sorted(errors, key=key)


def _error(path, line, message):
    return {'file': path, 'line': line, 'message': message}


def _read(read_file, path):
    """(text, error message) for path; text None and no message when it is missing."""
    try:
        return read_file(path), None
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) in (errno.ENOENT, errno.ENOTDIR) or isinstance(exc, FileNotFoundError):
            return None, None
        return None, 'could not read "%s": %s' % (path, exc.strerror or exc)


def _conf_files_in_dir(list_dir, directory):
    """(sorted *.conf paths, error message); names starting with "." are skipped like PostgreSQL does."""
    if list_dir is None:
        return None, 'include_dir is not supported without a list_dir callable'
    try:
        names = list_dir(directory)
    except (IOError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            names = None
        else:
            return None, 'could not open configuration directory "%s": %s' % (directory, exc.strerror or exc)
    if names is None:
        return None, 'could not open configuration directory "%s": No such file or directory' % directory
    chosen = sorted(name for name in names if name.endswith('.conf') and not name.startswith('.'))
    # strcmp order, as PostgreSQL sorts with qsort(pg_qsort_strcmp)
    chosen.sort(key=lambda name: name.encode('utf-8', 'surrogateescape'))
    return [posixpath.join(directory, name) for name in chosen], None


class IncludeResolver:
    """Opens top-level files and include targets, tracking nesting, cycles and what was read.

    ``files`` lists every file read in order, ``includes`` every include directive met
    ({directive, target, file, line, paths, found, error}) and ``errors`` problems as
    {file, line, message}.
    """

    def __init__(self, read_file, list_dir=None):
        self.read_file = read_file
        self.list_dir = list_dir
        self.files = []
        self.includes = []
        self.errors = []

    def open_top(self, path, missing_ok=False):
        """Text of a top-level file, or None (error recorded unless missing_ok)."""
        text, message = _read(self.read_file, path)
        if message:
            self.errors.append(_error(path, None, message))
        elif text is None and not missing_ok:
            self.errors.append(_error(path, None, 'could not open configuration file "%s": No such file or directory' % path))
        if text is not None:
            self.files.append(path)
        return text

    def expand(self, directive, target, calling_file, calling_line, stack):
        """Follow one include directive; returns [(path, text)] to parse in order.

        ``stack`` is the tuple of files currently being parsed (outermost first).
        """
        record = {'directive': directive, 'target': target, 'file': calling_file,
                  'line': calling_line, 'paths': [], 'found': False, 'error': None}
        self.includes.append(record)

        def fail(message):
            record['error'] = message
            self.errors.append(_error(calling_file, calling_line, message))
            return []

        if target.strip(' \t\r\n') == '':
            return fail('empty configuration file name: "%s"' % target)
        if len(stack) > CONF_FILE_MAX_DEPTH:
            return fail('could not open configuration file "%s": maximum nesting depth exceeded' % target)
        location = absolute_config_location(target, calling_file)
        if directive == 'include_dir':
            paths, message = _conf_files_in_dir(self.list_dir, location)
            if message:
                return fail(message)
            missing_ok = False
        else:
            paths = [location]
            missing_ok = directive == 'include_if_exists'

        opened = []
        for path in paths:
            if path in stack:
                fail('include cycle: "%s" includes itself via %s' % (path, ' -> '.join(stack)))
                continue
            text, message = _read(self.read_file, path)
            if message:
                fail(message)
                continue
            if text is None:
                if not missing_ok:
                    fail('could not open configuration file "%s": No such file or directory' % path)
                continue
            record['paths'].append(path)
            self.files.append(path)
            opened.append((path, text))
        record['found'] = bool(opened) or (directive == 'include_dir' and record['error'] is None)
        return opened
