# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.pgsec.hardening.plugins.module_utils import files


class RecordingModule(object):
    """The AnsibleModule helpers write_file may call; records them, no SELinux."""

    def __init__(self):
        self.calls = []

    def atomic_move(self, src, dest, keep_dest_attrs=True):
        self.calls.append(('atomic_move', dest))
        os.rename(src, dest)

    def selinux_enabled(self):
        return False

    def set_default_selinux_context(self, path, changed):
        self.calls.append(('default_context', path))
        return changed


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_file_gets_the_mode_asked_for_and_no_atomic_move(tmp_path):
    # atomic_move would reset a new file to 0666 & ~umask after the rename
    module = RecordingModule()
    path = str(tmp_path / 'sub' / 'key.pem')
    assert files.write_file(module, path, u'secret\n', mode=0o600) is None
    assert open(path).read() == 'secret\n'
    assert mode_of(path) == 0o600
    assert module.calls == [('default_context', path)]
    assert mode_of(str(tmp_path / 'sub')) == 0o755


def test_existing_file_keeps_its_mode_and_goes_through_atomic_move(tmp_path):
    module = RecordingModule()
    path = str(tmp_path / 'pg_hba.conf')
    open(path, 'w').write('old\n')
    os.chmod(path, 0o640)
    files.write_file(module, path, b'new\n', mode=0o644)
    assert open(path).read() == 'new\n'
    assert mode_of(path) == 0o640
    assert module.calls == [('atomic_move', path)]


def test_explicit_attributes_replace_the_old_ones(tmp_path):
    path = str(tmp_path / 'server.crt')
    open(path, 'w').write('old\n')
    os.chmod(path, 0o600)
    files.write_file(None, path, 'new\n', mode=0o644, keep=False, make_dirs=None)
    assert mode_of(path) == 0o644
    assert sorted(os.listdir(str(tmp_path))) == ['server.crt']  # no temporary file left


def test_backup_is_a_plain_copy_with_the_same_mode(tmp_path):
    path = str(tmp_path / 'nftables.conf')
    open(path, 'w').write('before\n')
    os.chmod(path, 0o755)
    backup = files.write_file(None, path, 'after\n', backup=True)
    assert backup.startswith(path + '.%d.' % os.getpid()) and backup.endswith('~')
    assert open(backup).read() == 'before\n'
    assert mode_of(backup) == 0o755
    assert open(path).read() == 'after\n'


def test_failed_write_leaves_the_file_and_no_temporary(tmp_path):
    path = str(tmp_path / 'conf')
    open(path, 'w').write('keep\n')

    class Broken(RecordingModule):
        def atomic_move(self, src, dest, keep_dest_attrs=True):
            raise OSError('disk full')

    try:
        files.write_file(Broken(), path, 'lost\n')
    except OSError:
        pass
    assert open(path).read() == 'keep\n'
    assert sorted(os.listdir(str(tmp_path))) == ['conf']


def test_read_text(tmp_path):
    assert files.read_text(str(tmp_path / 'missing')) is None
    (tmp_path / 'here').write_text(u'x')
    assert files.read_text(str(tmp_path / 'here')) == 'x'
