# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the nftables and iptables backends share: a plan in parts loaded from files, persistence files.

A plan (ruleset.plan) maps parts (``nftables``, or ``ipv4``/``ipv6``) to the text to load and the
text that undoes it. The subclasses only say how a part is loaded, how the full ruleset is saved and
how pgsec's rules are read; ``TablesBackend`` itself (no ``name``) is what runs when there is no
backend because nothing is left to remove.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.pgsec.hardening.plugins.module_utils.files import read_text, write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.backend import (
    ChangeFailed,
    FirewallBackend,
    rollback_directories,
    save_private,
    saves,
    script_head,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import (
    IPT_UNIT_FILE,
    IPT_UNIT_NAME,
    NFTABLES_CONF,
    FirewallPlanError,
    nftables_conf,
    persist_files,
    plan,
    refused_sources,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.verdict import summarize_port

PARTS = ('nftables', 'ipv4', 'ipv6')


def apply_order(parts):
    return [part for part in PARTS if part in parts]


def part_file(kind, part):
    return '%s-%s.%s' % (kind, part, 'nft' if part == 'nftables' else 'rules')


class TablesBackend(FirewallBackend):
    """nftables or iptables: pgsec's own table or chains, replaced by loading files."""

    def read_current(self, state):
        """What ruleset.plan compares with (see its docstring)."""
        raise NotImplementedError

    def load_argv(self, part, path=None):
        """The command that loads one part from path (stdin without)."""
        raise NotImplementedError

    def full_ruleset_commands(self):
        """[(file name, argv)] whose output is the whole ruleset before the change, for manual recovery."""
        raise NotImplementedError

    def plan(self, spec, params, state, result):
        module = self.module
        if params['zone'] or params['firewalld_remove_open_port']:
            module.warn('zone and firewalld_remove_open_port apply to the firewalld backend only; ignored with %s'
                        % (self.choice['backend'] or 'nothing to remove'))
        planned = {'changed': False, 'before': '', 'after': '', 'families': [4, 6], 'apply': {}, 'rollback': {}}
        if self.choice['backend'] is not None:
            spec['backend'] = self.choice['backend']
            try:
                planned = plan(spec, self.read_current(state))
            except FirewallPlanError as exc:
                module.fail_json(msg=str(exc), **result)
        if self.choice['backend'] == 'iptables' and 6 not in planned['families'] and spec['sources_v6']:
            module.warn('ip6tables-save failed: IPv6 is not filtered, the IPv6 sources are ignored')
        persistence = self.persistence(spec, planned['families'], params['persist'])
        return spec, planned, persistence if persistence[0] or persistence[1] else None

    def diff(self, planned, persistence):
        header = self.diff_header % (self.choice['backend'] or 'none')
        diff = [dict(before=planned['before'], after=planned['after'], before_header=header, after_header=header)]
        for path, content, _backup in (persistence or ([], []))[0]:
            diff.append(dict(before=read_text(path) or '', after=content or '', before_header=path,
                             after_header=path))
        return diff

    def load(self, part, text, path=None):
        """Apply one part of a plan ('nftables', 'ipv4' or 'ipv6') from a file (or stdin)."""
        self.host.run(self.load_argv(part, path), data=None if path else text, check=True)

    def rollback_script(self, directory, planned):
        lines = script_head(directory)
        for part in apply_order(planned['apply']):
            command = ' '.join(self.load_argv(part, part_file('rollback', part)))
            lines.append('if %s; then echo "%s restored"; else echo "%s: restore FAILED"; fi' % (command, part, part))
        return '\n'.join(lines) + '\n'

    def prepare_rollback(self, spec, planned, params, directory):
        """Save the full ruleset and the rollback files, then arm the rollback; returns its meta data."""
        rollback_directories(directory)
        saved = [save_private(directory, name, self.host.run(argv, check=True)[1])
                 for name, argv in self.full_ruleset_commands()]
        for part in apply_order(planned['apply']):
            for kind in ('apply', 'rollback'):
                with open(os.path.join(directory, part_file(kind, part)), 'w') as stream:
                    stream.write(planned[kind][part])
        with open(os.path.join(directory, 'rollback.sh'), 'w') as stream:
            stream.write(self.rollback_script(directory, planned))
        return self.rollback_meta(spec, planned, params, directory, saved, families=planned['families'])

    def apply(self, spec, planned, params, directory, meta):
        applied = []
        for part in apply_order(planned['apply']):
            try:
                path = os.path.join(directory, part_file('apply', part)) if directory else None
                self.load(part, planned['apply'][part], path)
                applied.append(part)
            except FirewallPlanError as exc:
                self.abort(directory, meta)
                undone = []
                for done in reversed(applied):
                    try:
                        self.load(done, planned['rollback'][done])
                        undone.append(done)
                    except FirewallPlanError:
                        pass
                raise ChangeFailed('applying the %s rules failed, %s: %s' % (
                    part, 'undid %s' % ', '.join(undone) if undone else 'nothing was changed', exc))

    def verify(self, spec, planned, params, result):
        state = self.host.read(self.host.available())
        again = plan(spec, self.read_current(state))
        result['verified'] = not again['changed']
        if again['changed']:
            self.module.warn('reading the rules back does not give the planned state (nft/iptables printed them '
                             'differently); the next run will report a change again: %s' % ' | '.join(again['diff'][2:12]))
        summaries = dict((port, summarize_port(port, state['nft'], saves(state))) for port in spec['ports'])
        result['refused_sources'] = refused_sources(spec, summaries) if spec['state'] == 'present' else []

    def persistence(self, spec, families, wanted):
        """([(path, new content or None to remove, backup)], [systemctl actions]) that persistence still needs.

        Present: the chosen backend's files. Absent (or persist false): pgsec's files of both backends go.
        """
        host = self.host
        files, actions = [], []
        present = spec['state'] == 'present' and wanted
        if not present:
            spec = dict(spec, state='absent')
        backends = [self.choice['backend']] if present else ['nftables', 'iptables']
        systemctl = host.which('systemctl') if host.systemd() else None
        for backend in backends:
            for path, content in sorted(persist_files(spec, dict(self.choice, backend=backend), families).items()):
                if read_text(path) != content and (content is not None or os.path.exists(path)):
                    files.append((path, content, False))
            if backend == 'nftables':
                current = read_text(NFTABLES_CONF)
                if current is not None or present:
                    new = nftables_conf(current, present)
                    if new is not None:
                        files.append((NFTABLES_CONF, new, True))
                if present and systemctl and \
                        host.run([systemctl, 'is-enabled', 'nftables.service'])[1].strip() != 'enabled':
                    actions.append(['enable', 'nftables.service'])
            elif systemctl:
                enabled = host.run([systemctl, 'is-enabled', IPT_UNIT_NAME])[1].strip() == 'enabled'
                if present and (not enabled or files):
                    actions.extend([['daemon-reload'], ['enable', IPT_UNIT_NAME]])
                elif not present and (enabled or os.path.exists(IPT_UNIT_FILE)):
                    actions.append(['disable', IPT_UNIT_NAME])
        return files, actions

    def persist(self, persistence, result):
        files, actions = persistence
        host = self.host
        done = []
        removing = [item for item in actions if item[0] == 'disable']
        for action in removing:
            host.run([host.which('systemctl')] + action, check=True)
            done.append('systemctl ' + ' '.join(action))
        for path, content, backup in files:
            if content is None:
                os.unlink(path)
                done.append('removed ' + path)
            else:
                write_file(self.module, path, content,
                           0o755 if path.endswith('.sh') or path == NFTABLES_CONF else 0o644, backup=backup)
                done.append(path)
        for action in actions:
            if action[0] != 'disable':
                host.run([host.which('systemctl')] + action, check=True)
                done.append('systemctl ' + ' '.join(action))
        if removing and host.systemd():
            host.run([host.which('systemctl'), 'daemon-reload'])
        return done

    def confirm_persist(self, meta, planned, result):
        if meta.get('persist') is None:
            return []
        return self.persist(self.persistence(meta['spec'], meta['families'], meta['persist']), result)
