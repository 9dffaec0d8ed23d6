# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real Neutron API on 127.0.0.1 for the cloud firewall tests: python neutron_api.py PORT STATE_DIR.

Run with the interpreter of the cloud servers venv (tests/cloud/requirements-servers.txt). No
keystone (auth_strategy noauth), no message bus (transport_url fake:/), ML2 with the noop firewall
driver, on SQLite. Neutron's migrations do not run on SQLite, so the schema comes from its models
(create_all) and the default egress rule templates that a migration would insert are seeded here:
a new group gets Neutron's default egress, as on a real cloud.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys
from wsgiref import simple_server

CONFIG = """[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = noauth
transport_url = fake:/
api_paste_config = {paste}
state_path = {state}
bind_host = 127.0.0.1
bind_port = {port}
use_stderr = true
[database]
connection = sqlite:///{state}/neutron.db
[oslo_concurrency]
lock_path = {state}/lock
[ml2]
type_drivers = local,flat
tenant_network_types = local
mechanism_drivers =
extension_drivers = port_security
[securitygroup]
firewall_driver = noop
enable_security_group = true
"""


def make_schema(url):
    import sqlalchemy
    from neutron.db.migration.models import head
    from oslo_utils import uuidutils

    engine = sqlalchemy.create_engine(url)
    metadata = head.get_metadata()
    metadata.create_all(engine)
    attributes, templates = metadata.tables['standardattributes'], metadata.tables['securitygroupdefaultrules']
    with engine.begin() as connection:
        for ethertype in ('IPv4', 'IPv6'):
            row = connection.execute(sqlalchemy.insert(attributes).values(
                resource_type='securitygroupdefaultrules', description='Legacy default SG rule for egress traffic'))
            connection.execute(sqlalchemy.insert(templates).values(
                id=uuidutils.generate_uuid(), standard_attr_id=row.inserted_primary_key[0], direction='egress',
                ethertype=ethertype, used_in_default_sg=True, used_in_non_default_sg=True))


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main(argv):
    port, state = int(argv[1]), os.path.abspath(argv[2])
    os.makedirs(os.path.join(state, 'lock'), exist_ok=True)
    paste = os.path.join(sys.prefix, 'etc', 'neutron', 'api-paste.ini')
    with open(os.path.join(state, 'neutron.conf'), 'w') as handle:
        handle.write(CONFIG.format(paste=paste, state=state, port=port))
    make_schema('sqlite:///%s/neutron.db' % state)
    os.environ['OS_NEUTRON_CONFIG_DIR'] = state
    os.environ['OS_NEUTRON_CONFIG_FILES'] = 'neutron.conf'
    sys.argv = [argv[0]]
    from neutron import server
    from neutron.server import api
    application = server.boot_server(api.api_server, prog='neutron-api')
    httpd = simple_server.make_server('127.0.0.1', port, application, handler_class=_QuietHandler)
    sys.stderr.write('neutron api listening on 127.0.0.1:%d\n' % port)
    sys.stderr.flush()
    httpd.serve_forever()


if __name__ == '__main__':
    main(sys.argv)
