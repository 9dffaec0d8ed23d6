# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way pgsec writes a file on a managed host.

``write_file``: a temporary file next to the target, owner and mode set on it before the content is
written (the data is never readable with looser permissions), flushed and fsynced, then
``AnsibleModule.atomic_move`` (rename; keeps the SELinux context where SELinux is on). No file
attributes are read or set (``chattr``/``lsattr``), and backups are plain copies
(``backup_copy``), not ``AnsibleModule.backup_local``, which sets attributes: roots without them
(tmpfs/overlay roots of containers) are supported targets.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile
import time


def read_text(path):
    """The file's text, None when it cannot be read."""
    try:
        with open(path) as stream:
            return stream.read()
    except (IOError, OSError):
        return None


def is_within(path, directory):
    """Whether path is directory or lies below it (both normalized; False when either is empty)."""
    if not path or not directory:
        return False
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip('/') + '/')


def backup_copy(path):
    """A copy of path named like ansible's backups (path.PID.YYYY-MM-DD@HH:MM:SS~), same owner and mode."""
    backup = '%s.%s.%s' % (path, os.getpid(), time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime(time.time())))
    shutil.copyfile(path, backup)
    model = os.stat(path)
    os.chmod(backup, stat.S_IMODE(model.st_mode))
    try:
        os.chown(backup, model.st_uid, model.st_gid)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
    return backup


def write_file(module, path, content, mode=None, uid=None, gid=None, backup=False, keep=True, make_dirs=0o755):
    """Replace path with content (str or bytes) atomically; returns the backup's path (None without).

    mode, uid, gid: of the new file (None: those of the file replaced, else 0o600 / root). With keep
    (the default) an existing file keeps its own owner and mode and these only apply to a new file.
    make_dirs: mode of missing parent directories (None: they must exist). module: the AnsibleModule
    whose SELinux helpers keep or set the context (None: a plain rename, as on the controller).
    """
    directory = os.path.dirname(path)
    if make_dirs is not None and not os.path.isdir(directory):
        os.makedirs(directory, make_dirs)
    existing = os.stat(path) if os.path.exists(path) else None
    saved = backup_copy(path) if backup and existing else None
    if existing is not None and (keep or mode is None):
        mode = stat.S_IMODE(existing.st_mode)
    if existing is not None and (keep or uid is None):
        uid = existing.st_uid
    if existing is not None and (keep or gid is None):
        gid = existing.st_gid
    data = content.encode('utf-8') if not isinstance(content, bytes) else content
    handle, temporary = tempfile.mkstemp(prefix='.pgsec-', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as out:
            made = os.fstat(out.fileno())
            if (uid is not None and uid != made.st_uid) or (gid is not None and gid != made.st_gid):
                os.fchown(out.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            os.fchmod(out.fileno(), 0o600 if mode is None else mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if module is not None and existing is not None and keep:
            # the replaced file's owner, mode and SELinux context (the temporary file has the same owner and mode)
            module.atomic_move(temporary, path)
        else:
            # Not atomic_move: for a new file it resets mode (0666 & ~umask) and owner after the rename, so the
            # content would be readable with looser permissions than asked for.
            context = None
            if module is not None and existing is not None and module.selinux_enabled():
                context = module.selinux_context(path)
            os.rename(temporary, path)
            if module is not None and context:
                module.set_context_if_different(path, context, False)
            elif module is not None:
                module.set_default_selinux_context(path, False)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return saved
