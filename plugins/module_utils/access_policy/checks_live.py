# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controls of what a server is serving now: clients the policy does not cover, MD5-era passwords."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils import lockout_guard
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.context import Catalogue, _outcome
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import MissingFacts


CONTROLS = Catalogue()  # this area's controls: @CONTROLS.check above each check


def _live(ctx):
    """The cluster's live facts, or an outcome when there is nothing to judge."""
    if 'live' not in ctx.cluster:
        return None, _outcome('manual', 'live clients', 'facts with what the server serves',
                              'not gathered (facts from an older version of the collection)', 'info')
    live = ctx.cluster.get('live')
    if live is None:
        if not ctx.cluster.get('running'):
            return None, _outcome('pass', 'live clients', 'nothing to cut', 'the server does not run')
        raise MissingFacts('what the server is serving could not be read (see the facts errors)')
    return live, None


@CONTROLS.check(
    'live.clients_covered', 'cluster', 'high', 'Every client the server is serving is covered by pgsec_clients',
    'pgsec.hardening policy: never cut off what works (docs/lockout-guard.md)',
    'Add the clients the finding names to pgsec_clients (pgsec.hardening.discover proposes them), or list them '
    'in pgsec_lockout_cut if cutting them is intended.')
def _check_live_clients_covered(ctx):
    live, outcome = _live(ctx)
    if outcome:
        return outcome
    plan = {'clients': ctx.policy['pgsec_clients'], 'listen_addresses': ['*'], 'hba_managed': True,
            'firewall_managed': True, 'keep_loopback': True}
    user = {'pgsec_lockout_cut': ctx.policy.get('pgsec_lockout_cut') or [], 'pgsec_hba_md5_compat': True}
    result = lockout_guard.evaluate([dict(ctx.cluster, live=live)], plan, user)
    seen = len(lockout_guard.live_clients(live))
    expected = 'every live or recently seen TCP client covered by a pgsec_clients entry'
    if not result['cuts']:
        return _outcome('pass', 'live clients', expected, '%d seen, all covered' % seen)
    names = '; '.join('%s (keep it with %s)' % (lockout_guard.describe_client(cut), lockout_guard.flow_text(cut['keep_with']))
                      for cut in result['cuts'])
    return _outcome('fail', 'live clients', expected, '%d of %d not covered: %s' % (len(result['cuts']), seen, names))


@CONTROLS.check(
    'auth.md5_secrets', 'cluster', 'medium', 'No login role has its password stored as MD5',
    'pgsec.hardening policy: SCRAM-SHA-256 secrets only (MD5 hashes are replayable from a dump)',
    "Re-hash each role: SET password_encryption = 'scram-sha-256'; then set the same password again "
    "(ALTER ROLE ... PASSWORD, or \\password in psql). The collection never changes a password.")
def _check_md5_secrets(ctx):
    live, outcome = _live(ctx)
    if outcome:
        return outcome
    roles = live.get('md5_roles') or []
    expected = 'SCRAM-SHA-256 secrets only'
    if not roles:
        return _outcome('pass', 'stored passwords', expected, 'no MD5 secret')
    return _outcome('fail', 'stored passwords', expected, 'stored as MD5: %s' % ', '.join(roles))


@CONTROLS.check(
    'config.loaded', 'cluster', 'medium', 'The server runs with the configuration on disk',
    'pgsec.hardening policy: what the audit reads is what the server does',
    'Reload the server (SELECT pg_reload_conf()); the pgsec.hardening roles reload it when files they own lag.')
def _check_config_loaded(ctx):
    if not ctx.cluster.get('running'):
        return _outcome('pass', 'loaded configuration', 'files read by the server', 'the server does not run')
    if 'changed_since_load' not in ctx.cluster:
        return _outcome('manual', 'loaded configuration', 'files read by the server',
                        'not gathered (facts from an older version of the collection)', 'info')
    changed = ctx.cluster.get('changed_since_load') or []
    expected = 'no configuration, pg_hba or TLS file newer than pg_conf_load_time()'
    if not changed:
        return _outcome('pass', 'loaded configuration', expected, 'every file was read by the server')
    return _outcome('fail', 'loaded configuration', expected, 'changed after the last reload, not in effect: %s'
                    % ', '.join(entry['path'] for entry in changed))
