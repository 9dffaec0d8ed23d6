# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql_access_tls: place a cluster's TLS material (also run in check mode by postgresql_access_drift)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.config_change import cluster_identity
from ansible_collections.pgsec.hardening.plugins.module_utils.tls.renewal import HOOK
from ansible_collections.pgsec.hardening.plugins.module_utils.tls.material import MaterialIO, place_material
from ansible_collections.pgsec.hardening.plugins.module_utils.tls.validation import MaterialError

OPTIONS = ('directory', 'cert', 'key', 'ca', 'crl', 'key_passphrase', 'passphrase_store', 'names', 'warn_days',
           'dh_params', 'key_owner', 'renew_hook')

ARGUMENT_SPEC = dict(
    cluster=dict(type='dict', required=True),
    directory=dict(type='path'),
    cert=dict(type='str', required=True),
    key=dict(type='str', required=True, no_log=True),
    ca=dict(type='str'),
    crl=dict(type='str'),
    key_passphrase=dict(type='str', no_log=True),
    passphrase_store=dict(type='str', choices=['auto', 'systemd-creds', 'file'], default='auto', no_log=False),
    names=dict(type='list', elements='str', default=[]),
    warn_days=dict(type='int', default=30),
    dh_params=dict(type='bool', default=True),
    key_owner=dict(type='str', choices=['server', 'root'], default='server', no_log=False),
    renew_hook=dict(type='bool', default=True),
    backup=dict(type='bool', default=False),
)


def run(module):
    """Validate and place the material, or in check mode say what would change; exits."""
    params = module.params
    cluster_id = params['cluster'].get('id')

    def run_command(argv, env=None):
        return module.run_command(argv, environ_update=env or {}, expand_user_and_vars=False)

    io = MaterialIO(module, backup=params['backup'])
    options = dict((name, params[name]) for name in OPTIONS)
    try:
        result = place_material(run_command, io, params['cluster'], options, check_mode=module.check_mode,
                                diff=module._diff, hook=HOOK)
    except MaterialError as exc:
        module.fail_json(msg=exc.headline or '%s: TLS material refused: %s' % (cluster_id, '; '.join(exc.errors)),
                         errors=exc.errors, certificate=exc.certificate)
    except (IOError, OSError) as exc:
        module.fail_json(msg='%s: placing the TLS material failed: %s' % (cluster_id, exc))
    for warning in result.pop('warnings'):
        module.warn(warning)
    # For postgresql_access_apply: new files behind unchanged settings still need a reload.
    result['cluster'] = cluster_identity(params['cluster'])
    result['reload_required'] = bool(result.get('changed'))
    module.exit_json(**result)


def main():
    """The module's entry point: its file holds the documentation, this the work."""
    run(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))
