# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift check: an area's own run() in check mode through AreaCheck, and the socket checks on real files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import os
import pwd

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import drift

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


class FakeModule(object):
    def __init__(self):
        self.warned = []
        self._diff = True

    def warn(self, warning):
        self.warned.append(warning)

    def run_command(self, argv, **_kwargs):
        return 0, '', ''


SPEC = dict(name=dict(type='str', required=True), count=dict(type='int', default=3))


def test_an_area_sees_its_own_parameters_in_check_mode_and_its_exit_becomes_the_result():
    seen = {}

    def run(module):
        seen.update(module.params, check_mode=module.check_mode)
        module.warn('careful')
        module.exit_json(changed=True, name=module.params['name'])

    module = FakeModule()
    result = drift.check_area(module, run, SPEC, {'name': 'listen'})
    assert result == {'changed': True, 'name': 'listen'}
    assert seen == {'name': 'listen', 'count': 3, 'check_mode': True}
    assert module.warned == ['careful']


def test_an_area_failure_is_a_drift_error_with_the_area_message():
    def run(module):
        module.fail_json(msg="pgsec_tls_ciphers: 'NONE' is rejected")

    with pytest.raises(drift.DriftError, match="pgsec_tls_ciphers: 'NONE' is rejected"):
        drift.check_area(FakeModule(), run, SPEC, {'name': 'tls'})


def test_bad_parameters_are_refused_before_the_area_runs():
    with pytest.raises(drift.DriftError, match='count'):
        drift.check_area(FakeModule(), lambda module: module.exit_json(), SPEC, {'name': 'x', 'count': 'many'})


def test_an_area_that_returns_without_exiting_is_an_error():
    with pytest.raises(drift.DriftError):
        drift.check_area(FakeModule(), lambda module: None, SPEC, {'name': 'x'})


def test_socket_directories_in_place_do_not_drift(tmp_path):
    path = tmp_path / 'sock'
    path.mkdir()
    os.chmod(str(path), 0o2750)
    sockets = {'server_user': ME, 'groups': [], 'tmpfiles': {},
               'directories': [{'path': str(path), 'mode': '2750', 'group': MY_GROUP}]}
    assert drift.socket_changes(sockets) == []
    os.chmod(str(path), 0o2770)
    assert drift.socket_changes(sockets) == ['%s: mode 2750' % path]
    sockets['directories'][0]['path'] = str(tmp_path / 'missing')
    assert drift.socket_changes(sockets) == ['%s: create' % (tmp_path / 'missing')]


def test_a_missing_group_or_member_drifts():
    sockets = {'groups': [{'name': 'pgsec-no-such-group', 'members': []},
                          {'name': MY_GROUP, 'members': ['pgsec-no-such-user']}], 'directories': []}
    assert drift.socket_changes(sockets) == ['group pgsec-no-such-group: create',
                                             'group %s: add pgsec-no-such-user' % MY_GROUP]


def test_the_boot_declaration_is_compared_by_content_and_removed_when_not_needed(tmp_path):
    path = tmp_path / 'pgsec.conf'
    assert drift._file_changes(str(path), '') == []
    assert drift._file_changes(str(path), 'd /run/x 0750 postgres postgres -\n') == ['%s: create' % path]
    path.write_text('d /run/x 0750 postgres postgres -\n')
    assert drift._file_changes(str(path), 'd /run/y 0750 postgres postgres -\n') == ['%s: content' % path]
    assert drift._file_changes(str(path), '') == ['%s: remove' % path]
