# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iptables backend (nft or legacy variant): chains PGSEC-INPUT/PGSEC-OUTPUT, one restore per family."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.tables import TablesBackend


class IptablesBackend(TablesBackend):
    name = 'iptables'

    def read_current(self, state):
        variant = 'iptables-' + self.choice['variant']
        return {'ipv4': state['saves'].get((variant, 4)), 'ipv6': state['saves'].get((variant, 6))}

    def load_argv(self, part, path=None):
        tool = self.choice['commands']['iptables-restore' if part == 'ipv4' else 'ip6tables-restore']
        return [tool, '-w', '10', '--noflush'] + ([path] if path else [])

    def full_ruleset_commands(self):
        return [('iptables.save', [self.choice['commands']['iptables-save']]),
                ('ip6tables.save', [self.choice['commands']['ip6tables-save']])]
