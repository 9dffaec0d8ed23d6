# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet summaries and the JSON, Markdown and HTML reports."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import audit_report, policy
from ansible_collections.pgsec.hardening.tests.unit.plugins.module_utils.fixture_files import read_fixture

GENERATED = '2026-11-25T03:00:00+00:00'
PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----'


def fleet():
    """pg1, pg2, pg3 evaluated with the baseline profile, as the action plugin hands them over."""
    hosts = {}
    for name in ('pg1', 'pg2', 'pg3'):
        facts = json.loads(read_fixture('facts', name + '.json'))
        hosts[name] = policy.evaluate(facts, {}, host=name)
    return hosts


def finding(status='fail', severity='high', control='listen.not_wildcard', cluster='15/main', **extra):
    item = {'id': control, 'host': None, 'cluster': cluster, 'subject': 'listen_addresses',
            'expected': 'specific addresses', 'actual': "'*'", 'status': status, 'severity': severity,
            'reference': 'CIS PostgreSQL 17 v1.0.0 5.2', 'title': 'listen_addresses is not a wildcard',
            'remediation': 'Set listen_addresses.'}
    item.update(extra)
    return item


def summary_of(hosts):
    return audit_report.build_summary(hosts, generated_at=GENERATED)


# ---------------------------------------------------------------------------- summary

def test_summary_counts_per_host():
    hosts = fleet()
    summary = summary_of(hosts)
    assert summary['host_order'] == ['pg1', 'pg2', 'pg3']
    for name in hosts:
        entry = summary['hosts'][name]
        assert entry['state'] == 'audited'
        assert entry['by_status'] == policy.count_by_status(hosts[name])
        failed = [item['severity'] for item in hosts[name] if item['status'] == 'fail']
        assert sum(entry['by_severity'].values()) == len(failed)
        assert entry['worst_severity'] == 'high'
        assert entry['drift'] is True
    assert summary['hosts']['pg2']['clusters'] == ['15/main', '15/second']
    assert summary['hosts']['pg3']['clusters'] == ['15/main', '/var/lib/pgsql/18/data']
    totals = summary['totals']
    assert (totals['hosts'], totals['audited'], totals['unaudited'], totals['with_drift']) == (3, 3, 0, 3)
    assert totals['findings'] == sum(len(findings) for findings in hosts.values())
    assert summary['hosts_with_drift'] == ['pg1', 'pg2', 'pg3']
    assert summary['worst_severity'] == 'high' and summary['drift'] is True
    json.dumps(summary)


def test_summary_unaudited_hosts():
    hosts = {'db1': [finding(status='pass')], 'db2': {'unreachable': 'ssh: connect timed out'},
             'db3': {'failed': 'psql: fatal'}, 'db4': None, 'db5': {'unreachable': True, 'msg': 'no route'}}
    summary = summary_of(hosts)
    assert summary['hosts']['db1']['drift'] is False and summary['hosts']['db1']['worst_severity'] is None
    assert [(item['host'], item['state'], item['message']) for item in summary['failed_hosts']] == [
        ('db2', 'unreachable', 'ssh: connect timed out'), ('db3', 'failed', 'psql: fatal'),
        ('db4', 'failed', 'no audit result'), ('db5', 'unreachable', 'no route')]
    assert summary['totals']['unaudited'] == 4 and summary['totals']['audited'] == 1
    assert summary['drift'] is False and summary['hosts_with_drift'] == []


def test_summary_accepts_module_results():
    summary = summary_of({'db1': {'changed': False, 'findings': [finding()], 'counts': {'fail': 1}}})
    assert summary['hosts']['db1']['by_status']['fail'] == 1


def test_worst_severity_only_counts_failures():
    hosts = {'db1': [finding(status='manual', severity='critical'), finding(status='pass', severity='critical'),
                     finding(status='error', severity='critical'), finding(status='fail', severity='low')]}
    summary = summary_of(hosts)
    assert summary['hosts']['db1']['worst_severity'] == 'low'
    assert summary['hosts']['db1']['by_severity'] == {'critical': 0, 'high': 0, 'medium': 0, 'low': 1, 'info': 0}


def test_malformed_findings_are_normalised():
    cleaned = audit_report.clean_finding({'id': 'x', 'status': 'weird', 'severity': 'huge', 'extra': 1}, 'db1')
    assert cleaned['status'] == 'error' and cleaned['severity'] == 'info' and cleaned['host'] == 'db1'
    assert set(cleaned) == set(audit_report.FINDING_FIELDS)


def test_findings_are_ordered_for_reading():
    hosts = {'db1': [finding(status='pass', control='a'), finding(status='manual', cluster=None, control='m'),
                     finding(status='fail', severity='low', control='b'),
                     finding(status='fail', severity='critical', control='c'),
                     finding(status='error', control='d', cluster='16/x')]}
    ordered = audit_report.host_findings(hosts, 'db1')
    assert [(item['cluster'], item['id']) for item in ordered] == [
        ('15/main', 'c'), ('15/main', 'b'), ('15/main', 'a'), ('16/x', 'd'), (None, 'm')]
    assert [group[0] for group in audit_report.group_by_cluster(ordered)] == ['15/main', '16/x', None]


# ---------------------------------------------------------------------------- set_stats and thresholds

def test_set_stats_payload():
    hosts = fleet()
    hosts['pg4'] = {'unreachable': 'timeout'}
    payload = audit_report.set_stats_payload(summary_of(hosts))
    assert set(payload) == {'hosts', 'audited', 'drift', 'hosts_with_drift', 'failed_hosts', 'counts',
                            'failed_by_severity', 'worst_severity'}
    assert payload['hosts'] == 4 and payload['audited'] == 3
    assert payload['failed_hosts'] == ['pg4'] and payload['hosts_with_drift'] == ['pg1', 'pg2', 'pg3']
    assert set(payload['counts']) == set(policy.STATUSES)
    assert len(json.dumps(payload)) < 600


def test_host_stats_payload_has_one_top_level_key_per_host():
    hosts = fleet()
    hosts['pg4'] = {'unreachable': 'timeout'}
    payload = audit_report.host_stats_payload(summary_of(hosts))
    assert set(payload) == {'pgsec_audit_host_pg1', 'pgsec_audit_host_pg2', 'pgsec_audit_host_pg3',
                            'pgsec_audit_host_pg4'}
    pg1, pg4 = payload['pgsec_audit_host_pg1'], payload['pgsec_audit_host_pg4']
    assert pg1['host'] == 'pg1' and pg1['state'] == 'audited' and pg1['drift'] is True
    assert pg1['counts']['fail'] > 0 and pg1['worst_severity'] in policy.SEVERITIES
    assert pg1['clusters'] == ['15/main']
    assert pg4['state'] == 'unreachable' and pg4['message'] == 'timeout' and pg4['drift'] is False


def test_host_stats_survive_a_shallow_merge_of_slices():
    # AWX merges the artifacts of a sliced job's slices with dict.update.
    slices = [{'db-1.example.com': [finding()]}, {'db_1': [finding(status='pass')]}, {'db2': [finding()]}]
    merged = {}
    for hosts in slices:
        summary = summary_of(hosts)
        artifacts = {'pgsec_audit': audit_report.set_stats_payload(summary)}
        artifacts.update(audit_report.host_stats_payload(summary))
        merged.update(artifacts)
    by_host = {value['host']: value for key, value in merged.items() if key.startswith('pgsec_audit_host_')}
    assert set(by_host) == {'db-1.example.com', 'db_1', 'db2'}
    assert by_host['db-1.example.com']['drift'] and not by_host['db_1']['drift']


def test_host_stats_key_of_the_documented_example():
    assert audit_report.host_stats_key('db1.example.com') == 'pgsec_audit_host_db1_example_com_772e011e'


@pytest.mark.parametrize('host, key', [
    ('pg1', 'pgsec_audit_host_pg1'),
    ('db_1', 'pgsec_audit_host_db_1'),
    ('db-1.example.com', 'pgsec_audit_host_db_1_example_com_'),
    ('2001:db8::5', 'pgsec_audit_host_2001_db8__5_'),
])
def test_host_stats_key_is_an_identifier(host, key):
    name = audit_report.host_stats_key(host)
    assert name.startswith(key) and name.isidentifier()
    assert name == audit_report.host_stats_key(host), 'the same host always gets the same key'
    if key.endswith('_'):
        assert re.match(r'^[0-9a-f]{8}$', name[len(key):])


@pytest.mark.parametrize('threshold, expected', [
    ('none', False), (None, False), ('critical', False), ('high', True), ('medium', True), ('info', True),
])
def test_exceeds(threshold, expected):
    assert audit_report.exceeds(summary_of(fleet()), threshold) is expected


def test_exceeds_counts_failures_only():
    findings = [finding(status='manual', severity='critical'), finding(status='fail', severity='low')]
    summary = summary_of({'db1': findings})
    assert not audit_report.exceeds(summary, 'medium')
    assert audit_report.exceeds(summary, 'low')


def test_exceeds_unaudited():
    summary = summary_of({'db1': [finding(status='pass')], 'db2': {'unreachable': 'timeout'}})
    assert not audit_report.exceeds(summary, 'info')
    assert audit_report.exceeds(summary, 'critical', unaudited_exceeds=True)


def test_exceeds_rejects_unknown_threshold():
    with pytest.raises(ValueError) as error:
        audit_report.exceeds(summary_of({}), 'severe')
    assert "'severe'" in str(error.value)


# ---------------------------------------------------------------------------- JSON

def test_json_report():
    hosts = fleet()
    text = audit_report.to_json(summary_of(hosts), hosts, title='Nightly')
    document = json.loads(text)
    assert document['title'] == 'Nightly'
    assert document['summary']['generated_at'] == GENERATED
    first = document['hosts']['pg1'][0]
    assert (first['status'], first['severity'], first['cluster']) == ('fail', 'high', '15/main')
    assert len(document['hosts']['pg2']) == len(hosts['pg2'])
    assert text == audit_report.to_json(summary_of(hosts), hosts, title='Nightly')  # deterministic


def test_json_report_of_unaudited_host():
    hosts = {'db1': {'failed': 'boom'}}
    document = json.loads(audit_report.to_json(summary_of(hosts), hosts))
    assert document['hosts'] == {'db1': []}
    assert document['summary']['failed_hosts'][0]['message'] == 'boom'


# ---------------------------------------------------------------------------- Markdown

def test_markdown_report():
    hosts = fleet()
    hosts['pg4'] = {'unreachable': 'ssh: connect to host pg4 port 22: No route to host'}
    text = audit_report.to_markdown(summary_of(hosts), hosts)
    assert text.startswith('# PostgreSQL access audit\n')
    assert '| pg1 | DRIFT | 16 | 0 | 8 | 9 | high |' in text  # live, md5 and loaded: not in the recorded facts
    assert '| pg4 | UNREACHABLE | 0 | 0 | 0 | 0 | - | - |' in text
    assert '- pg4 (unreachable): ssh: connect to host pg4 port 22: No route to host' in text
    sections = re.findall(r'^#{2,4} .*$', text, re.M)
    assert sections[:6] == ['## Summary', '## Findings', '### pg1', '#### Cluster 15/main', '#### Host-wide', '### pg2']
    assert '#### Cluster /var/lib/pgsql/18/data' in sections
    assert '- **FAIL** high `listen.not_wildcard`: listen\\_addresses is not a wildcard' in text
    for label in ('Subject', 'Expected', 'Actual', 'Reference', 'Remediation'):
        assert '  - %s: ' % label in text
    assert '  - Reference: CIS PostgreSQL 17 v1.0.0 5.2' in text
    assert '| `hba.valid` | /etc/postgresql/15/main/pg\\_hba.conf | 9 rules, no errors |' in text  # passed ones


def test_markdown_escapes_text():
    hosts = {'db|1': [finding(actual='a | b\n`x` <b>', subject='*star*')]}
    text = audit_report.to_markdown(summary_of(hosts), hosts)
    assert '| db\\|1 | DRIFT |' in text
    assert 'Actual: a \\| b \\`x\\` \\<b\\>' in text and 'Subject: \\*star\\*' in text


# ---------------------------------------------------------------------------- HTML

class _Collector(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.attributes = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text):
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return collector


def test_html_report_is_self_contained():
    hosts = fleet()
    text = audit_report.to_html(summary_of(hosts), hosts)
    assert text.startswith('<!DOCTYPE html>')
    page = parse_html(text)
    assert 'script' not in page.tags and 'link' not in page.tags and 'img' not in page.tags
    assert not any(name in ('src', 'href') and not value.startswith('#') for name, value in page.attributes)
    assert 'url(' not in text and '@import' not in text
    assert page.tags.count('style') == 1


def test_html_report_content():
    hosts = fleet()
    hosts['pg4'] = {'failed': 'MODULE FAILURE'}
    text = audit_report.to_html(summary_of(hosts), hosts, title='Nightly audit')
    page = parse_html(text)
    words = ' '.join(page.text)
    assert '<title>Nightly audit</title>' in text
    for name in ('pg1', 'pg2', 'pg3', 'pg4'):
        assert '<h2 id="host-%d">%s ' % (int(name[-1]), name) in text
        assert '<a href="#host-%d">%s</a>' % (int(name[-1]), name) in text
    assert 'class="badge s-fail"' in text and 'class="badge v-high"' in text and 'class="badge r-drift"' in text
    assert 'Not audited (failed): MODULE FAILURE' in words
    assert 'Cluster /var/lib/pgsql/18/data' in words
    assert 'listen.not_wildcard' in words and 'CIS PostgreSQL 17 v1.0.0 5.2' in words
    assert 'passed control(s)' in words
    assert text.count('<div class="finding ') == sum(
        1 for findings in fleet().values() for item in findings if item['status'] != 'pass')


def test_html_escapes_everything():
    evil = '<script>alert(1)</script>'
    hosts = {evil: [finding(actual=evil, subject='"quoted" & <b>', cluster=evil, title=evil)],
             'db2': {'unreachable': evil}}
    text = audit_report.to_html(summary_of(hosts), hosts, title=evil)
    assert '<script' not in text
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in text
    assert '&quot;quoted&quot; &amp; &lt;b&gt;' in text
    assert 'script' not in parse_html(text).tags


# ---------------------------------------------------------------------------- secrets

@pytest.mark.parametrize('render', [audit_report.to_json, audit_report.to_markdown, audit_report.to_html])
def test_reports_never_carry_key_material(render):
    hosts = {'db1': [finding(actual='key: ' + PEM_KEY, expected=PEM_KEY)], 'db2': {'failed': 'x ' + PEM_KEY}}
    summary = summary_of(hosts)
    text = render(summary, hosts)
    assert 'BEGIN PRIVATE KEY' not in text and 'MIIEvQ' not in text
    assert 'BEGIN PRIVATE KEY' not in json.dumps(summary)


def test_empty_fleet_renders():
    summary = summary_of({})
    assert summary['totals']['hosts'] == 0 and summary['worst_severity'] is None
    for render in (audit_report.to_json, audit_report.to_markdown, audit_report.to_html):
        assert render(summary, {})


# ---------------------------------------------------------------------------- terminal

def test_terminal_summary_has_one_aligned_row_per_host_and_the_report_paths():
    hosts = {'db1': [finding(), finding(severity='medium', control='socket.mode'), finding(status='manual')],
             'db2': [finding(status='pass')], 'db3': {'unreachable': 'ssh: connect timed out'}}
    files = {'json': '/r/pgsec-access-report.json', 'html': '/r/pgsec-access-report.html'}
    lines = audit_report.to_terminal(summary_of(hosts), files)
    assert lines[0] == ('PostgreSQL access audit: 3 hosts, 1 with drift, 1 not audited, '
                        'worst: high')
    header, db1, db2, db3 = lines[1:5]
    assert header.split() == ['host', 'state', 'clusters', 'failed', 'critical', 'high', 'medium', 'low',
                              'info', 'manual']
    assert db1.split() == ['db1', 'audited', '1', '2', '0', '1', '1', '0', '0', '1']
    assert db2.split() == ['db2', 'audited', '1', '0', '0', '0', '0', '0', '0', '0']
    assert db3.split()[:2] == ['db3', 'unreachable']
    assert len({len(row) for row in (header, db1, db2)}) == 1, 'columns line up'
    assert lines[5] == 'db3 not audited (unreachable): ssh: connect timed out'
    assert lines[6:] == ['html report: /r/pgsec-access-report.html', 'json report: /r/pgsec-access-report.json']
