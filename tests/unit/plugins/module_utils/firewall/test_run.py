# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run.py drives every backend the same way: check mode, rollback, confirm, refusals (fake host, files under tmp)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import backend, firewalld, ruleset, run, tables
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import firewalld_rules as fwd
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

DEFAULTS = dict(backend='auto', ports=[5432], sources=[], allow_none=False, action='drop', log=False, zone=None,
                firewalld_remove_open_port=False, egress=[], server_user='postgres', rollback_timeout=30,
                persist=True, state='present', confirm=None)
SOURCES = ['198.18.1.0/24', '2001:db8:1::/64']


class Exited(Exception):
    pass


class FakeModule(object):
    """AnsibleModule as run() uses it, over a host with nft (or firewalld) whose answers are recorded output."""

    def __init__(self, bins, check_mode=False, firewalld_running=False, **params):
        self.params = dict(DEFAULTS, **params)
        self.check_mode = check_mode
        self._diff = True
        self.bins = bins
        self.firewalld_running = firewalld_running
        self.commands = []
        self.warnings = []

    def get_bin_path(self, name, opt_dirs=None):
        return self.bins.get(name)

    def run_command(self, argv, data=None, binary_data=False):
        self.commands.append(list(argv))
        text = ' '.join(argv)
        if text.endswith('nft -j list ruleset'):
            return 0, read_fixture('firewall', 'nft_native.json'), ''
        if text.endswith('list table inet pgsec'):
            return 1, '', 'No such file or directory'
        if text.endswith('firewall-cmd --state'):
            return (0, 'running', '') if self.firewalld_running else (252, 'not running', '')
        if '--get-default-zone' in text:
            return 0, 'public\n', ''
        if '--list-all-zones' in text:
            return 0, read_fixture('firewalld', 'list-all-zones.txt'), ''
        if '--zone public --list-all' in text:
            return 0, read_fixture('firewalld', 'public.basic.list-all.txt'), ''
        if '--info-service' in text:
            return 101, '', 'Error: INVALID_SERVICE'
        return 0, 'success' if 'firewall-cmd' in text else '', ''

    def warn(self, message):
        self.warnings.append(message)

    def exit_json(self, **result):
        raise Exited(dict(result, failed=False))

    def fail_json(self, **result):
        raise Exited(dict(result, failed=True))

    def atomic_move(self, src, dest, keep_dest_attrs=True):
        os.rename(src, dest)

    def selinux_enabled(self):
        return False

    def set_default_selinux_context(self, path, changed):
        return changed


NFT = {'nft': '/usr/sbin/nft'}
FIREWALLD = {'nft': '/usr/sbin/nft', 'firewall-cmd': '/usr/bin/firewall-cmd'}


@pytest.fixture
def host_paths(tmp_path, monkeypatch):
    """Every path the firewall writes, under tmp_path; no detached job is started."""
    state = str(tmp_path / 'state')
    etc = tmp_path / 'etc'
    for module, name, value in (
            (backend, 'STATE_DIR', state), (backend, 'ROLLBACK_DIR', state + '/firewall-rollback'),
            (run, 'ROLLBACK_DIR', state + '/firewall-rollback'), (firewalld, 'STATE_DIR', state),
            (fwd, 'STATE_FILE', state + '/firewalld.json'),
            (tables, 'NFTABLES_CONF', str(etc / 'nftables.conf')), (tables, 'IPT_UNIT_FILE', str(etc / 'unit')),
            (ruleset, 'NFT_PERSIST_FILE', str(etc / 'nftables.d' / 'pgsec.nft'))):
        monkeypatch.setattr(module, name, value)
    monkeypatch.setattr(backend, 'spawn_detached', lambda argv: 4242)
    # The recorded firewall-cmd --state answer decides, not this machine's processes.
    monkeypatch.setattr(backend.Host, 'firewalld_process', staticmethod(lambda: True))
    return tmp_path


def outcome(module):
    with pytest.raises(Exited) as exited:
        run.run(module)
    return exited.value.args[0]


def test_check_mode_reports_and_changes_nothing(host_paths):
    module = FakeModule(NFT, check_mode=True, sources=SOURCES)
    result = outcome(module)
    assert not result['failed'] and result['changed'] and result['backend'] == 'nftables'
    assert 'table inet pgsec' in result['after'] and result['before'] == ''
    assert [entry['before_header'] for entry in result['diff']][0] == 'pgsec firewall rules (nftables)'
    assert not any('-f' in argv for argv in module.commands)
    assert not os.path.exists(str(host_paths / 'state')) and not os.path.exists(str(host_paths / 'etc'))


def test_change_is_armed_then_confirmed(host_paths):
    result = outcome(FakeModule(NFT, sources=SOURCES))
    assert result['changed'] and result['persist_pending'] and result['rollback_method'] == 'process'
    token = result['rollback_token']
    directory = host_paths / 'state' / 'firewall-rollback' / token
    script = (directory / 'rollback.sh').read_text()
    assert script.startswith('#!/bin/sh\n# pgsec.hardening: undoes firewall change %s unless' % token)
    assert '/usr/sbin/nft -f rollback-nftables.nft' in script
    assert sorted(os.listdir(str(directory))) == ['apply-nftables.nft', 'armed', 'meta.json', 'rollback-nftables.nft',
                                                  'rollback.sh', 'ruleset.nft']
    assert json.loads((directory / 'meta.json').read_text())['pid'] == 4242

    again = outcome(FakeModule(NFT, sources=['198.18.9.0/24']))
    assert again['failed'] and 'is still waiting for its confirmation' in again['msg']

    confirmed = outcome(FakeModule(NFT, confirm=token))
    assert confirmed['confirmed'] == token and str(host_paths / 'etc' / 'nftables.d' / 'pgsec.nft') in confirmed['persisted']
    assert not directory.exists()
    late = outcome(FakeModule(NFT, confirm=token))
    assert late['failed'] and 'no firewall change %s is waiting' % token in late['msg']


def test_failed_load_is_undone_and_disarmed(host_paths, monkeypatch):
    module = FakeModule(NFT, sources=SOURCES)
    original = module.run_command

    def failing(argv, data=None, binary_data=False):
        if argv[1:3] == ['-f', argv[2]] and 'apply-' in argv[2]:
            module.commands.append(list(argv))
            return 1, '', 'Error: syntax error'
        return original(argv, data, binary_data)

    module.run_command = failing
    result = outcome(module)
    assert result['failed'] and result['rollback_token'] is None
    assert result['msg'].startswith('applying the nftables rules failed, nothing was changed')
    (directory,) = os.listdir(str(host_paths / 'state' / 'firewall-rollback'))
    assert 'failed' in os.listdir(str(host_paths / 'state' / 'firewall-rollback' / directory))


def test_firewalld_runtime_now_permanent_without_rollback(host_paths):
    module = FakeModule(FIREWALLD, firewalld_running=True, sources=SOURCES, rollback_timeout=0)
    result = outcome(module)
    assert not result['failed'] and result['backend'] == 'firewalld' and result['zone'] == 'public'
    assert result['rollback_token'] is None and result['persisted']
    assert any(line.startswith('permanent zone public: add rich-rule') for line in result['persisted'])
    state_file = str(host_paths / 'state' / 'firewalld.json')
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert fwd.owns_rules(fwd.load_state(open(state_file).read()))


def test_refusals_name_the_option(host_paths):
    assert outcome(FakeModule(NFT, rollback_timeout=4000))['msg'] == \
        'rollback_timeout: 4000 is not between 0 and 3600 seconds'
    assert outcome(FakeModule(NFT, confirm='nope'))['msg'] == "confirm: 'nope' is not a rollback token of this module"
    assert outcome(FakeModule(NFT, sources=['300.1.1.1']))['failed']


def test_the_registry_is_the_one_list_of_backends():
    """The module takes what select.REGISTRY holds; the policy's written-out names agree with it."""
    from ansible_collections.pgsec.hardening.plugins.module_utils import policy
    from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import run, select
    assert select.BACKENDS == ('auto',) + tuple(select.REGISTRY)
    assert run.ARGUMENT_SPEC['backend']['choices'] == list(select.BACKENDS)
    assert policy.FIREWALL_BACKENDS == select.BACKENDS + ('none',)
    for name, backend in select.REGISTRY.items():
        assert backend.name == name
