# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud_firewall playbook against real API servers on 127.0.0.1: moto (AWS) and Neutron (OpenStack).

No lab host: the role runs on the controller. The rules are read back through boto3 and
openstacksdk directly, never from the module's result. The servers are started once per module
and stopped by the fixtures, also when a test fails; moto is reset between tests.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'cloud'))
import servers  # noqa: E402

CLIENTS = [{'name': 'app', 'sources': ['198.51.100.0/24']}, {'name': 'reports', 'sources': ['2001:db8:1::/64']}]
BOTH = {('198.51.100.0/24', 5432, 'pgsec.hardening client app'),
        ('2001:db8:1::/64', 5432, 'pgsec.hardening client reports')}
RECAP = re.compile(r'^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


@pytest.fixture(scope='module')
def state_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('cloud'))


@pytest.fixture(scope='module')
def moto_server(state_dir):
    with servers.running(servers.moto(state_dir)) as server:
        yield server


@pytest.fixture(scope='module')
def neutron_server(state_dir):
    with servers.running(servers.neutron(state_dir)) as server:
        yield server


def aws_env(endpoint):
    return {'AWS_ENDPOINT_URL': endpoint, 'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing',
            'AWS_REGION': 'us-east-1', 'AWS_DEFAULT_REGION': 'us-east-1'}


class Aws(object):
    """The AWS side of a test: a fresh moto state with one VPC; rules read through boto3."""

    def __init__(self, server, work):
        import boto3
        servers.reset_moto(server)
        self.env = aws_env(server.url)
        self.ec2 = boto3.client('ec2', endpoint_url=server.url, region_name='us-east-1',
                                aws_access_key_id='testing', aws_secret_access_key='testing')
        self.vpc = self.ec2.create_vpc(CidrBlock='10.0.0.0/16')['Vpc']['VpcId']
        self.variables = {'pgsec_cloud_provider': 'aws', 'pgsec_cloud_vpc_id': self.vpc}

    def group(self, name):
        groups = self.ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': [name]}])['SecurityGroups']
        return groups[0] if groups else None

    def ingress(self, name):
        rules = set()
        for permission in self.group(name)['IpPermissions']:
            for entry in permission.get('IpRanges', []):
                rules.add((entry['CidrIp'], permission['FromPort'], entry.get('Description')))
            for entry in permission.get('Ipv6Ranges', []):
                rules.add((entry['CidrIpv6'], permission['FromPort'], entry.get('Description')))
        return rules

    def egress(self, name):
        return [(entry['CidrIp'], permission['IpProtocol']) for permission in self.group(name)['IpPermissionsEgress']
                for entry in permission.get('IpRanges', [])]

    def add_by_hand(self, name, cidr, description):
        self.ec2.authorize_security_group_ingress(GroupId=self.group(name)['GroupId'], IpPermissions=[{
            'IpProtocol': 'tcp', 'FromPort': 5432, 'ToPort': 5432,
            'IpRanges': [{'CidrIp': cidr, 'Description': description}]}])

    def group_id(self, name):
        return self.group(name)['GroupId']


class OpenStack(object):
    """The OpenStack side: clouds.yaml with auth_type none and the network endpoint; rules read through openstacksdk."""

    def __init__(self, server, work):
        import openstack
        path = os.path.join(work, 'clouds.yaml')
        with open(path, 'w') as handle:
            json.dump({'clouds': {'neutron-test': {'auth_type': 'none', 'region_name': 'RegionOne',
                                                   'network_endpoint_override': server.url + '/'}}}, handle)
        self.env = {'OS_CLIENT_CONFIG_FILE': path, 'OS_CLOUD': 'neutron-test'}
        os.environ.update(self.env)
        self.conn = openstack.connect(cloud='neutron-test')
        self.variables = {'pgsec_cloud_provider': 'openstack'}

    def group(self, name):
        groups = list(self.conn.network.security_groups(name=name))
        return groups[0] if groups else None

    def rules(self, name):
        return list(self.conn.network.security_group_rules(security_group_id=self.group(name).id))

    def ingress(self, name):
        return set((rule.remote_ip_prefix, rule.port_range_min, rule.description) for rule in self.rules(name)
                   if rule.direction == 'ingress')

    def egress(self, name):
        return sorted((rule.ether_type, rule.remote_ip_prefix, rule.protocol) for rule in self.rules(name)
                      if rule.direction == 'egress')

    def add_by_hand(self, name, cidr, description):
        self.conn.network.create_security_group_rule(
            security_group_id=self.group(name).id, direction='ingress', ether_type='IPv4', protocol='tcp',
            port_range_min=5432, port_range_max=5432, remote_ip_prefix=cidr, description=description)

    def group_id(self, name):
        return self.group(name).id


def playbook(work, env, variables, *options):
    """Run the cloud_firewall playbook on one inventory host; returns (changed, failed, output)."""
    inventory = os.path.join(work, 'inventory')
    with open(inventory, 'w') as handle:
        handle.write('db1 ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    extra = os.path.join(work, 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(variables, handle)
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, '-e', '@' + extra,
               'pgsec.hardening.cloud_firewall'] + list(options)
    done = subprocess.run(command, env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    recap = RECAP.findall(done.stdout)
    assert recap, done.stdout
    changed, _unreachable, failed = (int(value) for value in recap[-1])
    return changed, failed, done.stdout


@pytest.fixture(params=['aws', 'openstack'])
def cloud(request, tmp_path):
    server = request.getfixturevalue('moto_server' if request.param == 'aws' else 'neutron_server')
    side = (Aws if request.param == 'aws' else OpenStack)(server, str(tmp_path))
    side.work = str(tmp_path)
    return side


def test_the_policy_becomes_the_group_and_the_group_follows_the_policy(cloud, request):
    name = 'pg-%s' % request.node.callspec.id
    given = dict(cloud.variables, pgsec_cloud_security_group=name, pgsec_clients=CLIENTS)

    # Check mode on a group that does not exist yet: the rules it would get, and nothing made.
    changed, failed, out = playbook(cloud.work, cloud.env, given, '--check', '--diff')
    assert failed == 0 and changed > 0, out
    assert '+ ingress tcp/5432 from 2001:db8:1::/64 "pgsec.hardening client reports"' in out
    assert cloud.group(name) is None

    # Two clients, v4 and v6: exactly their rules; the provider's default egress is left alone.
    changed, failed, out = playbook(cloud.work, cloud.env, given, '--diff')
    assert failed == 0 and changed > 0, out
    assert cloud.ingress(name) == BOTH
    egress = cloud.egress(name)
    assert egress, 'the default egress of the provider was removed'
    assert cloud.group_id(name) in out

    # The second run changes nothing.
    changed, failed, out = playbook(cloud.work, cloud.env, given, '--diff')
    assert (changed, failed) == (0, 0), out

    # A client leaves: check mode shows the rule going and leaves the API as it was; then for real.
    fewer = dict(given, pgsec_clients=CLIENTS[:1])
    changed, failed, out = playbook(cloud.work, cloud.env, fewer, '--check', '--diff')
    assert failed == 0 and changed > 0, out
    assert '-ingress tcp/5432 from 2001:db8:1::/64 "pgsec.hardening client reports"' in out
    assert '- ingress tcp/5432 from 2001:db8:1::/64' in out
    assert cloud.ingress(name) == BOTH
    changed, failed, out = playbook(cloud.work, cloud.env, fewer)
    assert failed == 0 and changed > 0, out
    assert cloud.ingress(name) == {('198.51.100.0/24', 5432, 'pgsec.hardening client app')}
    assert cloud.egress(name) == egress

    # Someone opens the port to the world by hand: the audit (check mode, with the policy of two
    # clients again) reports it with its reference and remediation, and the policy client missing,
    # and changes nothing; the next run removes it, the group being ours.
    cloud.add_by_hand(name, '0.0.0.0/0', 'quick fix')
    changed, failed, out = playbook(cloud.work, cloud.env, given, '--check', '--diff')
    assert failed == 0, out
    text = ' '.join(out.split())
    assert 'FAIL high cloud.port_world_open: open to the world: ingress tcp/5432 from 0.0.0.0/0 "quick fix"' in text
    assert 'CIS AWS Foundations Benchmark v3.0.0 5.2/5.3' in text and 'remediation: Remove the rules' in text
    assert 'FAIL medium cloud.rules_owned: added by hand (removed by the next run' in text
    assert 'FAIL medium cloud.sources_within_policy' in text
    assert 'FAIL low cloud.clients_allowed: missing: ingress tcp/5432 from 2001:db8:1::/64' in text
    assert ('0.0.0.0/0', 5432, 'quick fix') in cloud.ingress(name)
    changed, failed, out = playbook(cloud.work, cloud.env, fewer, '--diff')
    assert failed == 0 and changed > 0, out
    assert cloud.ingress(name) == {('198.51.100.0/24', 5432, 'pgsec.hardening client app')}


BAD_INPUTS = [
    ('bad CIDR', {'pgsec_clients': [{'name': 'app', 'sources': ['198.51.100.300/24']}]},
     "pgsec_clients[0].sources[0]: '198.51.100.300/24' is not an IP address or network"),
    ('unknown provider', {'pgsec_cloud_provider': 'gcp'}, 'pgsec_cloud_provider'),
    ('missing group', {'pgsec_cloud_security_group': None}, 'pgsec_cloud_security_group'),
    ('missing VPC', {'pgsec_cloud_vpc_id': ''}, "pgsec_cloud_vpc_id: '' is not a VPC id"),
    ('not a VPC', {'pgsec_cloud_vpc_id': 'subnet-0abc'}, "pgsec_cloud_vpc_id: 'subnet-0abc' is not a VPC id"),
    ('bad port', {'pgsec_cloud_ports': [70000]}, "pgsec_cloud_ports[0]: 70000 is not between 1 and 65535"),
    ('bad egress host', {'pgsec_cloud_manage_egress': True, 'pgsec_firewall_egress': [{'host': 'backup', 'port': 22}]},
     "pgsec_firewall_egress[0].host: 'backup' is not an IP address"),
    ('client without sources', {'pgsec_clients': [{'name': 'app'}]}, 'pgsec_clients[0].sources: None must list'),
]


@pytest.mark.parametrize('case, change, words', BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_before_any_api_call(moto_server, tmp_path, case, change, words):
    servers.reset_moto(moto_server)
    given = {'pgsec_cloud_provider': 'aws', 'pgsec_cloud_security_group': 'pg-bad', 'pgsec_cloud_vpc_id': 'vpc-0abc',
             'pgsec_clients': CLIENTS}
    given.update(change)
    given = dict((key, value) for key, value in given.items() if value is not None)
    counter = servers.ConnectionCounter()
    try:
        env = aws_env(counter.url)
        env.update({'OS_AUTH_URL': counter.url, 'OS_AUTH_TYPE': 'none'})
        changed, failed, out = playbook(str(tmp_path), env, given)
        connections = counter.connections()
    finally:
        counter.close()
    assert (changed, failed) == (0, 1), out
    assert words in ' '.join(out.split()), out
    assert connections == 0, 'the API was called %d time(s) before the input was refused' % connections


def test_a_managed_egress_allowlist_replaces_the_default_egress(cloud, request):
    name = 'pg-egress-%s' % request.node.callspec.id
    given = dict(cloud.variables, pgsec_cloud_security_group=name, pgsec_clients=CLIENTS[:1],
                 pgsec_cloud_manage_egress=True, pgsec_firewall_egress=[{'host': '192.0.2.10', 'port': 5432}])
    changed, failed, out = playbook(cloud.work, cloud.env, given, '--diff')
    assert failed == 0 and changed > 0, out
    assert cloud.egress(name) in ([('192.0.2.10/32', 'tcp')], [('IPv4', '192.0.2.10/32', 'tcp')])
    changed, failed, out = playbook(cloud.work, cloud.env, given)
    assert (changed, failed) == (0, 0), out


def test_the_audit_says_when_the_group_is_not_attached_to_the_instance(moto_server, tmp_path):
    aws = Aws(moto_server, str(tmp_path))
    image = aws.ec2.describe_images()['Images'][0]['ImageId']
    subnet = aws.ec2.create_subnet(VpcId=aws.vpc, CidrBlock='10.0.1.0/24')['Subnet']['SubnetId']
    instance = aws.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)['Instances'][0]
    given = dict(aws.variables, pgsec_cloud_security_group='pg-attached', pgsec_clients=CLIENTS[:1],
                 pgsec_cloud_instance_id=instance['InstanceId'])
    changed, failed, out = playbook(str(tmp_path), aws.env, given)
    assert failed == 0, out
    assert 'FAIL medium cloud.group_attached: not attached' in ' '.join(out.split())
    aws.ec2.modify_instance_attribute(InstanceId=instance['InstanceId'], Groups=[aws.group_id('pg-attached')])
    changed, failed, out = playbook(str(tmp_path), aws.env, given)
    assert (changed, failed) == (0, 0), out
    assert 'cloud.group_attached' not in out and 'every cloud.* control passes' in out


def test_the_host_audit_reports_the_cloud_group_and_changes_nothing(lab_hosts, moto_server, tmp_path):
    """pgsec.hardening.audit on a lab host with a provider configured: the cloud.* findings of its security
    group are in the host's report, and the group is as it was."""
    from labhosts import run
    aws = Aws(moto_server, str(tmp_path))
    name = 'pg-audited'
    group = aws.ec2.create_security_group(GroupName=name, Description='orders database', VpcId=aws.vpc)['GroupId']
    aws.add_by_hand(name, '0.0.0.0/0', 'quick fix')
    before = aws.ingress(name)
    variables = dict(aws.variables, pgsec_cloud_security_group=name, pgsec_tls_enabled=False,
                     pgsec_clients=[{'name': 'app', 'sources': ['198.18.1.100/32']}])
    extra = tmp_path / 'vars.json'
    extra.write_text(json.dumps(variables))
    run(['ansible-playbook', '-i', str(lab_hosts.inventory), 'pgsec.hardening.audit', '-e', '@%s' % extra,
         '-e', 'pgsec_target_hosts=pg1', '-e', 'pgsec_audit_report_dir=%s' % tmp_path],
        env=dict(os.environ, **aws.env))
    report = json.loads((tmp_path / 'pgsec-access-report.json').read_text())
    findings = dict((finding['id'], finding) for finding in report['hosts']['pg1'])
    assert findings['cloud.port_world_open']['status'] == 'fail', findings['cloud.port_world_open']
    assert 'quick fix' in findings['cloud.port_world_open']['actual']
    assert findings['cloud.clients_allowed']['status'] == 'fail'
    assert any(key.startswith('listen.') for key in findings), 'the host findings are still there'
    assert aws.ingress(name) == before and aws.group_id(name) == group
