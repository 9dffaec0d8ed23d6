# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of access_report: render findings and write the report files atomically."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.pgsec.hardening.plugins.module_utils import audit_report
from ansible_collections.pgsec.hardening.plugins.module_utils.files import write_file
from ansible_collections.pgsec.hardening.plugins.plugin_utils.controller_action import ControllerAction

FORMATS = {'json': ('json', audit_report.to_json), 'markdown': ('md', audit_report.to_markdown),
           'html': ('html', audit_report.to_html)}
REPORT_NAME = 'pgsec-access-report'


def host_entry(result):
    """Findings of one host, or why there are none."""
    if not isinstance(result, dict) or not result:
        return {'failed': 'no audit result (host skipped or play stopped before it)'}
    if result.get('unreachable'):
        return {'unreachable': result.get('msg', 'unreachable')}
    if result.get('failed'):
        return {'failed': result.get('msg', 'audit failed')}
    return result.get('findings', [])


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = dict(
        results=dict(type='dict', required=True),
        extra_findings=dict(type='dict', default={}),
        dest=dict(type='path', required=True),
        formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
        fail_on_severity=dict(type='str', default='none',
                              choices=['none', 'info', 'low', 'medium', 'high', 'critical']),
        title=dict(type='str', default='PostgreSQL access audit'),
    )

    def act(self, args, task_vars, result):
        hosts = {}
        for host, host_result in sorted(args['results'].items()):
            entry = host_entry(host_result)
            if isinstance(entry, list):
                entry = [dict(finding, host=host) for finding in entry + list(args['extra_findings'].get(host) or [])]
            hosts[host] = entry
        summary = audit_report.build_summary(hosts, title=args['title'])
        # Relative to the controller's working directory (the project directory under AWX and ansible-runner).
        dest = os.path.abspath(args['dest'])
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as exc:
            raise AnsibleActionFail('dest: cannot create %r: %s' % (dest, exc))
        files = {}
        for fmt in args['formats']:
            extension, render = FORMATS[fmt]
            path = os.path.join(dest, '%s.%s' % (REPORT_NAME, extension))
            # a report of the controller's user, readable by all, whoever wrote the previous one
            write_file(None, path, to_bytes(render(summary, hosts, title=args['title'])), mode=0o644,
                       uid=os.geteuid(), gid=os.getegid(), keep=False, make_dirs=None)
            files[fmt] = path
        threshold = args['fail_on_severity']
        result.update(changed=bool(files), files=files, summary=summary,
                      terminal=audit_report.to_terminal(summary, files),
                      stats=audit_report.set_stats_payload(summary),
                      host_stats=audit_report.host_stats_payload(summary),
                      exceeds_threshold=threshold != 'none' and audit_report.exceeds(summary, threshold))
        return result
