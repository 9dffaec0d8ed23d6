# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet reports of access findings: a summary, JSON, Markdown, one self-contained HTML page.

Input is ``hosts``: {inventory name: [findings from policy.evaluate] or {"unreachable": msg}
or {"failed": msg}}. ``build_summary(hosts)`` counts; the renderers take (summary, hosts).
A host is *drifted* when one of its findings failed; hosts that could not be audited are
listed separately and never count as compliant. Text is scrubbed of PEM blocks on the way
out, so key material cannot reach a report even if a caller put it in a finding.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import hashlib
import html
import json
import re

from ansible_collections.pgsec.hardening.plugins.module_utils.policy import (
    SEVERITIES,
    STATUSES,
    redact,
    severity_rank,
)

DEFAULT_TITLE = 'PostgreSQL access audit'
FINDING_FIELDS = ('id', 'host', 'cluster', 'subject', 'expected', 'actual', 'status', 'severity', 'reference',
                  'title', 'remediation')
UNAUDITED_STATES = ('unreachable', 'failed')
HOST_WIDE = 'host-wide'


# ---------------------------------------------------------------------------- input

def _host_state(entry):
    """('audited', None, findings) or ('unreachable'|'failed', message, [])."""
    if isinstance(entry, dict):
        for state in UNAUDITED_STATES:
            if entry.get(state):
                message = entry.get(state)
                return state, message if isinstance(message, str) else entry.get('msg') or state, []
        if 'findings' in entry:
            return 'audited', None, list(entry['findings'] or [])
        return 'failed', entry.get('msg') or 'no findings in the result', []
    if isinstance(entry, (list, tuple)):
        return 'audited', None, list(entry)
    return 'failed', 'no audit result', []


def clean_finding(finding, host=None):
    """A finding with exactly FINDING_FIELDS, text scrubbed of key material, host filled in."""
    cleaned = {}
    for field in FINDING_FIELDS:
        value = finding.get(field)
        if isinstance(value, str):
            value = redact(value)
        elif value is not None and not isinstance(value, (int, float, bool)):
            value = redact(str(value))
        cleaned[field] = value
    if cleaned['host'] is None:
        cleaned['host'] = host
    if cleaned['status'] not in STATUSES:
        cleaned['status'] = 'error'
    if cleaned['severity'] not in SEVERITIES:
        cleaned['severity'] = 'info'
    return cleaned


def host_findings(hosts, host):
    """The cleaned findings of one host in report order: clusters in the order evaluated, then
    host-wide findings; within each, fail, error, manual, pass and the worst severity first."""
    _state, _message, findings = _host_state(hosts.get(host))
    cleaned = [clean_finding(finding, host) for finding in findings if isinstance(finding, dict)]
    clusters = []
    for finding in cleaned:
        if finding['cluster'] is not None and finding['cluster'] not in clusters:
            clusters.append(finding['cluster'])

    def sort_key(finding):
        cluster = finding['cluster']
        position = len(clusters) if cluster is None else clusters.index(cluster)
        return (position, STATUSES.index(finding['status']), severity_rank(finding['severity']),
                finding.get('id') or '', str(finding.get('subject') or ''))
    return sorted(cleaned, key=sort_key)


def group_by_cluster(findings):
    """[(cluster id or None, [findings])] keeping the order of the findings."""
    groups = []
    for finding in findings:
        if not groups or groups[-1][0] != finding.get('cluster'):
            groups.append((finding.get('cluster'), []))
        groups[-1][1].append(finding)
    return groups


# ---------------------------------------------------------------------------- summary

def _empty_counts(names):
    return dict((name, 0) for name in names)


def worst_severity(severities):
    """The worst of some severities, or None."""
    ranked = sorted((severity for severity in severities if severity in SEVERITIES), key=severity_rank)
    return ranked[0] if ranked else None


def build_summary(hosts, title=None, generated_at=None):
    """Counts for a fleet: {title, generated_at, hosts: {name: host summary}, host_order, totals,
    hosts_with_drift, failed_hosts, worst_severity, drift}.

    A host summary is {state (audited|unreachable|failed), message, clusters, findings,
    by_status, by_severity (of failed findings), worst_severity (of failed findings),
    drift}. generated_at defaults to now (UTC, ISO 8601).
    """
    if generated_at is None:
        generated_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    summary = {
        'title': title or DEFAULT_TITLE, 'generated_at': generated_at, 'hosts': {}, 'host_order': [],
        'totals': {'hosts': 0, 'audited': 0, 'unaudited': 0, 'with_drift': 0, 'findings': 0,
                   'by_status': _empty_counts(STATUSES), 'by_severity': _empty_counts(SEVERITIES)},
        'hosts_with_drift': [], 'failed_hosts': [], 'worst_severity': None, 'drift': False,
    }
    totals = summary['totals']
    for host in sorted(hosts):
        state, message, _findings = _host_state(hosts[host])
        findings = host_findings(hosts, host)
        by_status = _empty_counts(STATUSES)
        by_severity = _empty_counts(SEVERITIES)
        clusters = []
        for finding in findings:
            by_status[finding['status']] += 1
            if finding['status'] == 'fail':
                by_severity[finding['severity']] += 1
            if finding['cluster'] is not None and finding['cluster'] not in clusters:
                clusters.append(finding['cluster'])
        failed_severities = [name for name in SEVERITIES if by_severity[name]]
        entry = {
            'state': state, 'message': redact(message) if message else None, 'clusters': clusters,
            'findings': len(findings), 'by_status': by_status, 'by_severity': by_severity,
            'worst_severity': worst_severity(failed_severities), 'drift': by_status['fail'] > 0,
        }
        summary['hosts'][host] = entry
        summary['host_order'].append(host)
        totals['hosts'] += 1
        totals['findings'] += len(findings)
        for name in STATUSES:
            totals['by_status'][name] += by_status[name]
        for name in SEVERITIES:
            totals['by_severity'][name] += by_severity[name]
        if state == 'audited':
            totals['audited'] += 1
        else:
            totals['unaudited'] += 1
            summary['failed_hosts'].append({'host': host, 'state': state, 'message': entry['message']})
        if entry['drift']:
            totals['with_drift'] += 1
            summary['hosts_with_drift'].append(host)
    summary['worst_severity'] = worst_severity(
        [entry['worst_severity'] for entry in summary['hosts'].values() if entry['worst_severity']])
    summary['drift'] = bool(summary['hosts_with_drift'])
    return summary


def set_stats_payload(summary):
    """The small dict for ansible.builtin.set_stats (AWX shows it with the job)."""
    totals = summary['totals']
    return {
        'hosts': totals['hosts'],
        'audited': totals['audited'],
        'drift': summary['drift'],
        'hosts_with_drift': list(summary['hosts_with_drift']),
        'failed_hosts': [entry['host'] for entry in summary['failed_hosts']],
        'counts': dict(totals['by_status']),
        'failed_by_severity': dict(totals['by_severity']),
        'worst_severity': summary['worst_severity'],
    }


HOST_STATS_PREFIX = 'pgsec_audit_host_'


def host_stats_key(host, prefix=HOST_STATS_PREFIX):
    """The set_stats variable of one host: the prefix and the name, when the name is a valid identifier part;
    otherwise the name with other characters as ``_`` and a hash of it, so that two names never share a key."""
    name = str(host)
    safe = re.sub(r'[^0-9A-Za-z_]', '_', name)
    if safe != name or not name:
        safe = '%s_%s' % (safe, hashlib.sha1(name.encode('utf-8')).hexdigest()[:8])
    return prefix + safe


def host_stats_payload(summary, prefix=HOST_STATS_PREFIX):
    """One top-level set_stats key per host ({key: {host, state, drift, ...}}).

    AWX merges the artifacts of a sliced job's slices with a shallow dict update, so only
    top-level keys of distinct names survive it: a dict of all hosts would keep the last slice's.
    """
    payload = {}
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        payload[host_stats_key(host, prefix)] = {
            'host': host,
            'state': entry['state'],
            'message': entry['message'],
            'drift': entry['drift'],
            'worst_severity': entry['worst_severity'],
            'clusters': list(entry['clusters']),
            'counts': dict(entry['by_status']),
            'failed_by_severity': dict(entry['by_severity']),
        }
    return payload


def exceeds(summary, threshold, unaudited_exceeds=False):
    """True when a failed finding is at least as severe as threshold ('none' never exceeds).

    With unaudited_exceeds, a host that could not be audited exceeds any threshold too.
    Raises ValueError for an unknown threshold.
    """
    if threshold in (None, 'none'):
        return False
    if threshold not in SEVERITIES:
        raise ValueError('threshold: %r is not one of none, %s' % (threshold, ', '.join(SEVERITIES)))
    if unaudited_exceeds and summary['failed_hosts']:
        return True
    limit = severity_rank(threshold)
    return any(count and severity_rank(name) <= limit for name, count in summary['totals']['by_severity'].items())


# ---------------------------------------------------------------------------- JSON

def to_json(summary, hosts=None, title=None):
    """The report as JSON text: {title, summary, hosts: {host: [findings]}}.

    A host that was not audited has no findings; summary.failed_hosts says why.
    """
    document = {
        'title': title or summary.get('title') or DEFAULT_TITLE,
        'summary': summary,
        'hosts': dict((host, host_findings(hosts or {}, host)) for host in summary['host_order']),
    }
    return json.dumps(document, indent=2, sort_keys=True) + '\n'


# ---------------------------------------------------------------------------- Markdown

def _md(text):
    """Inline Markdown text: one line, table pipes and markup characters escaped."""
    text = '' if text is None else str(text)
    text = ' '.join(text.split())
    for char in ('\\', '`', '*', '_', '|', '<', '>', '[', ']'):
        text = text.replace(char, '\\' + char)
    return text


def _md_code(text):
    text = ' '.join(('' if text is None else str(text)).split()).replace('|', '\\|')
    fence = '``' if '`' in text else '`'
    return '%s%s%s' % (fence, text, fence) if text else ''


def _host_result(entry):
    if entry['state'] != 'audited':
        return entry['state'].upper()
    return 'DRIFT' if entry['drift'] else 'OK'


def _cluster_label(cluster):
    return 'Host-wide' if cluster is None else 'Cluster %s' % cluster


def to_terminal(summary, files=None):
    """Lines for the terminal: one row per host (state, failed controls by severity, worst), then the
    reports' paths. People read the terminal first; the files stay the full record."""
    columns = ('host', 'state', 'clusters', 'failed') + SEVERITIES + ('manual',)
    rows = []
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        rows.append([host, entry['state'], str(len(entry['clusters'])), str(entry['by_status']['fail'])]
                    + [str(entry['by_severity'][name]) for name in SEVERITIES]
                    + [str(entry['by_status']['manual'])])
    widths = [max([len(name)] + [len(row[index]) for row in rows]) for index, name in enumerate(columns)]

    def line(cells):
        return '  '.join(cell.ljust(width) if index < 2 else cell.rjust(width)
                         for index, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    totals = summary['totals']
    lines = ['%s: %d hosts, %d with drift, %d not audited, worst: %s'
             % (summary.get('title') or DEFAULT_TITLE, totals['hosts'], totals['with_drift'],
                totals['unaudited'], summary['worst_severity'] or 'none'),
             line(columns)]
    lines += [line(row) for row in rows]
    for failed in summary['failed_hosts']:
        lines.append('%s not audited (%s): %s' % (failed['host'], failed['state'], failed['message']))
    for fmt in sorted(files or {}):
        lines.append('%s report: %s' % (fmt, files[fmt]))
    return lines


def to_markdown(summary, hosts=None, title=None):
    """The report as Markdown: a summary table per host, then findings grouped by host and cluster."""
    hosts = hosts or {}
    totals = summary['totals']
    lines = ['# %s' % _md(title or summary.get('title') or DEFAULT_TITLE), '',
             'Generated %s. %d host(s): %d audited, %d with drift, %d not audited. Worst failed severity: %s.'
             % (_md(summary.get('generated_at')), totals['hosts'], totals['audited'], totals['with_drift'],
                totals['unaudited'], summary['worst_severity'] or 'none'), '',
             'Findings: %s.' % ', '.join('%d %s' % (totals['by_status'][name], name) for name in STATUSES), '',
             '## Summary', '',
             '| Host | Result | Fail | Error | Manual | Pass | Worst severity | Failed by severity |',
             '|---|---|---:|---:|---:|---:|---|---|']
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        severities = ', '.join('%d %s' % (entry['by_severity'][name], name) for name in SEVERITIES
                               if entry['by_severity'][name]) or '-'
        lines.append('| %s | %s | %d | %d | %d | %d | %s | %s |' % (
            _md(host), _host_result(entry), entry['by_status']['fail'], entry['by_status']['error'],
            entry['by_status']['manual'], entry['by_status']['pass'], entry['worst_severity'] or '-', severities))
    if summary['failed_hosts']:
        lines.extend(['', '**Not audited:**', ''])
        for failed in summary['failed_hosts']:
            lines.append('- %s (%s): %s' % (_md(failed['host']), failed['state'], _md(failed['message'])))
    lines.extend(['', '## Findings'])
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        lines.extend(['', '### %s' % _md(host), ''])
        if entry['state'] != 'audited':
            lines.append('Not audited (%s): %s' % (entry['state'], _md(entry['message'])))
            continue
        for cluster, findings in group_by_cluster(host_findings(hosts, host)):
            lines.extend(['#### %s' % _md(_cluster_label(cluster)), ''])
            passed = [finding for finding in findings if finding['status'] == 'pass']
            for finding in findings:
                if finding['status'] == 'pass':
                    continue
                lines.extend([
                    '- **%s** %s %s: %s' % (finding['status'].upper(), finding['severity'], _md_code(finding['id']),
                                            _md(finding['title'])),
                    '  - Subject: %s' % _md(finding['subject']),
                    '  - Expected: %s' % _md(finding['expected']),
                    '  - Actual: %s' % _md(finding['actual']),
                    '  - Reference: %s' % _md(finding['reference']),
                    '  - Remediation: %s' % _md(finding['remediation']),
                ])
            if passed:
                if len(passed) != len(findings):
                    lines.append('')
                lines.extend(['Passed:', '', '| Control | Subject | Actual |', '|---|---|---|'])
                lines.extend('| %s | %s | %s |' % (_md_code(finding['id']), _md(finding['subject']), _md(finding['actual']))
                             for finding in passed)
            lines.append('')
    return '\n'.join(lines).rstrip('\n') + '\n'


# ---------------------------------------------------------------------------- HTML

_CSS = """
:root { --fail: #b42318; --error: #6941c6; --manual: #b54708; --pass: #067647; --muted: #475467;
  --line: #d0d5dd; --bg: #f9fafb; --critical: #7a271a; --high: #d92d20; --medium: #dc6803; --low: #1570ef;
  --info: #667085; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0;
  color: #101828; background: #fff; line-height: 1.45; font-size: 14px; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; } h3 { font-size: 15px; margin: 20px 0 8px; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 150px; background: var(--bg); }
.card .n { font-size: 24px; font-weight: 600; } .card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; }
.card.bad { border-color: var(--fail); } .card.bad .n { color: var(--fail); }
.card.good .n { color: var(--pass); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12px; text-transform: uppercase; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: 12px; font-weight: 600;
  color: #fff; white-space: nowrap; }
.s-fail, .r-drift { background: var(--fail); } .s-error, .r-unreachable, .r-failed { background: var(--error); }
.s-manual { background: var(--manual); } .s-pass, .r-ok { background: var(--pass); }
.v-critical { background: var(--critical); } .v-high { background: var(--high); } .v-medium { background: var(--medium); }
.v-low { background: var(--low); } .v-info { background: var(--info); } .v-none { background: var(--line); color: #101828; }
.finding { border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 6px; padding: 8px 12px;
  margin: 8px 0; }
.finding.fail { border-left-color: var(--fail); } .finding.error { border-left-color: var(--error); }
.finding.manual { border-left-color: var(--manual); }
.finding .head { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
.finding code, td code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.finding dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0 0; }
.finding dt { color: var(--muted); } .finding dd { margin: 0; overflow-wrap: anywhere; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--muted); }
.unaudited { border: 1px solid var(--error); border-radius: 6px; padding: 8px 12px; background: #f4f3ff; }
a { color: #175cd3; }
@media print { details { display: block; } main { max-width: none; } }
"""


def _h(text):
    return html.escape('' if text is None else str(text), quote=True)


def _badge(kind, value, text=None):
    return '<span class="badge %s-%s">%s</span>' % (kind, _h(value or 'none'), _h(text or value or 'none'))


def _card(number, label, css=''):
    return '<div class="card %s"><div class="n">%s</div><div class="l">%s</div></div>' % (css, _h(number), _h(label))


def _finding_html(finding):
    rows = ''.join('<dt>%s</dt><dd>%s</dd>' % (label, _h(finding[field])) for label, field in (
        ('Subject', 'subject'), ('Expected', 'expected'), ('Actual', 'actual'), ('Reference', 'reference'),
        ('Remediation', 'remediation')))
    return ('<div class="finding %s"><div class="head">%s %s <code>%s</code> <strong>%s</strong></div>'
            '<dl>%s</dl></div>' % (_h(finding['status']), _badge('s', finding['status']),
                                   _badge('v', finding['severity']), _h(finding['id']), _h(finding['title']), rows))


def _passed_html(passed):
    rows = ''.join('<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        _h(finding['id']), _h(finding['title']), _h(finding['subject']), _h(finding['actual'])) for finding in passed)
    return ('<details><summary>%d passed control(s)</summary><table><thead><tr><th>Control</th><th>Title</th>'
            '<th>Subject</th><th>Actual</th></tr></thead><tbody>%s</tbody></table></details>' % (len(passed), rows))


def to_html(summary, hosts=None, title=None):
    """The report as one self-contained HTML page (inline CSS, no scripts, no external assets)."""
    hosts = hosts or {}
    title = title or summary.get('title') or DEFAULT_TITLE
    totals = summary['totals']
    anchors = dict((host, 'host-%d' % index) for index, host in enumerate(summary['host_order'], 1))
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title><style>%s</style></head><body><main>' % (_h(title), _CSS),
           '<h1>%s</h1>' % _h(title),
           '<p class="meta">Generated %s</p>' % _h(summary.get('generated_at')),
           '<div class="cards">',
           _card(totals['hosts'], 'hosts'),
           _card(totals['audited'], 'audited', 'good' if totals['audited'] == totals['hosts'] else ''),
           _card(totals['with_drift'], 'hosts with drift', 'bad' if totals['with_drift'] else 'good'),
           _card(totals['unaudited'], 'not audited', 'bad' if totals['unaudited'] else 'good'),
           _card(totals['by_status']['fail'], 'failed findings', 'bad' if totals['by_status']['fail'] else 'good'),
           _card(summary['worst_severity'] or 'none', 'worst severity', 'bad' if summary['worst_severity'] else 'good'),
           '</div>',
           '<h2>Summary</h2><table><thead><tr><th>Host</th><th>Result</th><th>Fail</th><th>Error</th><th>Manual</th>'
           '<th>Pass</th><th>Worst severity</th><th>Failed by severity</th></tr></thead><tbody>']
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        result = _host_result(entry)
        severities = ' '.join(_badge('v', name, '%d %s' % (entry['by_severity'][name], name))
                              for name in SEVERITIES if entry['by_severity'][name]) or '-'
        out.append('<tr><td><a href="#%s">%s</a></td><td>%s</td><td class="num">%d</td><td class="num">%d</td>'
                   '<td class="num">%d</td><td class="num">%d</td><td>%s</td><td>%s</td></tr>' % (
                       anchors[host], _h(host), _badge('r', result.lower(), result), entry['by_status']['fail'],
                       entry['by_status']['error'], entry['by_status']['manual'], entry['by_status']['pass'],
                       _badge('v', entry['worst_severity']) if entry['worst_severity'] else '-', severities))
    out.append('</tbody></table>')
    for host in summary['host_order']:
        entry = summary['hosts'][host]
        result = _host_result(entry)
        out.append('<h2 id="%s">%s %s</h2>' % (anchors[host], _h(host), _badge('r', result.lower(), result)))
        if entry['state'] != 'audited':
            out.append('<div class="unaudited">Not audited (%s): %s</div>' % (_h(entry['state']), _h(entry['message'])))
            continue
        for cluster, findings in group_by_cluster(host_findings(hosts, host)):
            out.append('<h3>%s</h3>' % _h(_cluster_label(cluster)))
            out.extend(_finding_html(finding) for finding in findings if finding['status'] != 'pass')
            passed = [finding for finding in findings if finding['status'] == 'pass']
            if passed:
                out.append(_passed_html(passed))
    out.append('<p class="meta">Status is relative to the policy: <b>fail</b> = drift, <b>error</b> = facts missing, '
               '<b>manual</b> = needs a person (or does not apply, as the text says). Severity tells how bad a '
               'failure is.</p>')
    out.append('</main></body></html>')
    return '\n'.join(out) + '\n'
