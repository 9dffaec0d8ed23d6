# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nftables backend: pgsec owns table ``inet pgsec`` and replaces it with one ``nft -f``."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.tables import TablesBackend


class NftablesBackend(TablesBackend):
    name = 'nftables'

    def read_current(self, state):
        listed = ''
        rc, out, _err = self.host.run([self.choice['commands']['nft'], 'list', 'table', 'inet', 'pgsec'])
        if rc == 0:
            listed = out
        return {'nft': state['nft'], 'table_text': listed}

    def load_argv(self, part, path=None):
        return [self.choice['commands']['nft'], '-f', path or '-']

    def full_ruleset_commands(self):
        return [('ruleset.nft', [self.choice['commands']['nft'], 'list', 'ruleset'])]
