# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld backend: rich rules in one zone through ``firewall-cmd``, runtime now, permanent on confirm.

The pure planning (wanted rules, both layers, the state file) is firewalld_rules; this file only
reads firewalld, runs the ops, writes the state file and the rollback script.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shlex

from ansible_collections.pgsec.hardening.plugins.module_utils.files import read_text, write_file
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import firewalld_rules as fwd
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.backend import ChangeFailed, FirewallBackend, saves
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.backend import rollback_directories, save_private, script_head
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import parse_firewalld_zones
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import STATE_DIR, FirewallPlanError, refused_sources
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.verdict import summarize_port


class FirewalldBackend(FirewallBackend):
    name = 'firewalld'

    def __init__(self, module, host, choice):
        super(FirewalldBackend, self).__init__(module, host, choice)
        self.services = {}
        self.state_before = None
        self.state_after = None

    def result(self):
        return dict(super(FirewalldBackend, self).result(), variant=None, zone=None, firewalld_changes=[])

    # ------------------------------------------------------------------ host access

    def firewall_cmd(self, args, layer='runtime', check=True):
        argv = [self.choice['commands']['firewall-cmd']] + (['--permanent'] if layer == 'permanent' else []) + list(args)
        rc, out, err = self.host.run(argv)
        if check and rc != 0:
            raise FirewallPlanError('%s failed (rc %d): %s' % (' '.join(argv), rc, (err or out).strip()))
        return rc, out, err

    def read_services(self, names, services):
        """Add the definitions (``--info-service``, with their includes) of the named services to services."""
        pending = sorted(set(names) - set(services))
        while pending:
            name = pending.pop()
            info = None
            for layer in fwd.LAYERS:
                rc, out, _err = self.firewall_cmd(['--info-service', name], layer, check=False)
                if rc == 0:
                    info = fwd.parse_service_info(out)
                    break
            services[name] = info  # None: unknown here, firewalld_rules falls back to the well-known ports
            for included in (info or {}).get('includes') or []:
                if included not in services and included not in pending:
                    pending.append(included)
        return services

    def read(self, zone, state, layers=fwd.LAYERS):
        """What firewalld_rules.plan needs: default zone, ``--list-all`` of the zones involved per layer, services."""
        current = {'state': state, 'zones': {}, 'services': {}}
        current['default_zone'] = self.firewall_cmd(['--get-default-zone'])[1].strip() or None
        target = zone or current['default_zone']
        for name in [target] + sorted(other for other in state['zones'] if other != target):
            if not name:
                continue
            for layer in layers:
                rc, out, err = self.firewall_cmd(['--zone', name, '--list-all'], layer, check=False)
                if rc == 0:
                    current['zones'].setdefault(name, {})[layer] = out
                elif 'INVALID_ZONE' not in (err or ''):
                    raise FirewallPlanError('firewall-cmd --zone %s --list-all (%s) failed (rc %d): %s'
                                            % (name, layer, rc, (err or out).strip()))
        names = set()
        for listed in (current['zones'].get(target) or {}).values():
            parsed = fwd.parse_zone(listed)
            names.update(parsed['services'] if parsed else [])
        self.read_services(names, current['services'])
        return current

    def run_ops(self, ops):
        """Run ops through firewall-cmd (one call per group); FirewallPlanError naming what failed."""
        for argv in fwd.commands(self.choice['commands']['firewall-cmd'], ops):
            rc, out, err = self.host.run(argv)
            problems = fwd.command_errors(rc, out, err)
            if problems:
                raise FirewallPlanError('%s ...: %s' % (' '.join(argv[:5]), '; '.join(problems)))

    def write_state(self, state):
        if not os.path.isdir(STATE_DIR):
            os.makedirs(STATE_DIR, 0o700)
        if fwd.owns_rules(state) or state['removed_openings']:
            write_file(self.module, fwd.STATE_FILE, fwd.dump_state(state), 0o600)
        elif os.path.exists(fwd.STATE_FILE):
            os.unlink(fwd.STATE_FILE)

    # ------------------------------------------------------------------ the interface

    def plan(self, spec, params, state, result):
        try:
            spec = fwd.normalize(spec)
            current = self.read(params['zone'], state['firewalld_state'])
            planned = fwd.plan(spec, current, params['zone'], params['firewalld_remove_open_port'], params['persist'])
            result['zone'] = planned['zone']
            self.services = self.warnings(spec, planned, planned['zone'])
            self.services.update(current['services'])
        except FirewallPlanError as exc:
            self.module.fail_json(msg=str(exc), **result)
        result['firewalld_changes'] = fwd.describe(planned['apply'].get('firewalld', []) + planned['persist'])
        return spec, planned, planned['layers']['permanent'] if planned['persist'] else None

    def diff(self, planned, persistence):
        header = 'pgsec firewalld rich rules (zone %s)' % planned['zone']
        return [dict(before=planned['before'], after=planned['after'], before_header=header, after_header=header)]

    def warnings(self, spec, planned, zone):
        """Warn about rules pgsec leaves alone and zones that open the ports past pgsec's rules; returns the services read."""
        module = self.module
        for rule in planned['foreign']:
            module.warn('firewalld zone %s already had %s, not added by pgsec: it is kept and never removed by pgsec'
                        % (zone, rule))
        for rule in planned['lookalikes']:
            module.warn('firewalld zone %s has %s, shaped like pgsec\'s rules but not recorded in %s: left alone '
                        '(remove it by hand if it is a leftover)' % (zone, rule, fwd.STATE_FILE))
        services = {}
        if spec['state'] != 'present':
            return services
        zones = parse_firewalld_zones(self.firewall_cmd(['--list-all-zones'])[1])
        active = [data for name, data in zones['zones'].items() if data['interfaces'] or data['sources']]
        self.read_services(set(name for data in active for name in data['services']), services)
        for item in fwd.other_zone_openings(zones, zone, spec['ports'], services):
            ports = ', '.join(str(port) for port in spec['ports'])
            module.warn('firewalld zone %s (%s) also lets clients reach port(s) %s: %s; connections that zone '
                        'handles never reach pgsec\'s rules in zone %s'
                        % (item['zone'], item['bound'], ports, '; '.join(item['opens']), zone))
        return services

    def refused(self, spec, zone, default_zone):
        """Sources of the spec that firewalld (or other tables) still refuses; only when zone is the default zone.

        (Clients of a zone bound to interfaces cannot be told apart here.)
        """
        if zone != default_zone or spec['state'] != 'present':
            return []
        zones = parse_firewalld_zones(self.firewall_cmd(['--list-all-zones'])[1])
        # firewall-cmd 1.3 marks no zone "(default)" in --list-all-zones
        zones['default_zone'] = default_zone
        state = self.host.read(self.host.available())
        ports = {}
        for name in self.services:
            ports[name] = [[port, proto] for (low, high), proto in fwd.service_ports(self.services, name)
                           for port in spec['ports'] if low <= port <= high]
        summaries = dict((port, summarize_port(port, state['nft'], saves(state), zones, service_ports=ports))
                         for port in spec['ports'])
        return refused_sources(dict(spec, backend=None), summaries)

    def rollback_script(self, directory, planned):
        lines = script_head(directory, ' (firewalld runtime configuration)') + ['ok=1']
        for argv in fwd.commands(self.choice['commands']['firewall-cmd'], planned['rollback']['firewalld']):
            lines.append('out=$(%s 2>&1) || ok=0' % ' '.join(shlex.quote(arg) for arg in argv))
            lines.append('printf "%s\\n" "$out"')
            lines.append('if printf "%s\\n" "$out" | grep -E "^(Warning|Error):" | grep -qv -e ALREADY_ENABLED '
                         '-e NOT_ENABLED; then ok=0; fi')
        if self.state_before is not None:
            lines.append('cp firewalld-state-before.json %s' % fwd.STATE_FILE)
        else:
            lines.append('rm -f %s' % fwd.STATE_FILE)
        lines.append('if [ "$ok" = 1 ]; then echo "firewalld restored"; else echo "firewalld: restore FAILED"; fi')
        return '\n'.join(lines) + '\n'

    def before_change(self):
        self.state_before = read_text(fwd.STATE_FILE)

    def prepare_rollback(self, spec, planned, params, directory):
        rollback_directories(directory)
        saved = [save_private(directory, name, self.firewall_cmd(['--list-all-zones'], layer)[1])
                 for name, layer in (('firewalld-runtime.txt', 'runtime'), ('firewalld-permanent.txt', 'permanent'))]
        if self.state_before is not None:
            with open(os.path.join(directory, 'firewalld-state-before.json'), 'w') as stream:
                stream.write(self.state_before)
        with open(os.path.join(directory, 'rollback.sh'), 'w') as stream:
            stream.write(self.rollback_script(directory, planned))
        return self.rollback_meta(spec, planned, params, directory, saved, families=[4, 6], zone=planned['zone'],
                                  remove_open_port=params['firewalld_remove_open_port'])

    def apply(self, spec, planned, params, directory, meta):
        ops = planned['apply']['firewalld']
        try:
            self.run_ops(ops)
        except FirewallPlanError as exc:
            self.abort(directory, meta)
            try:
                self.run_ops(fwd.invert(ops))
                undone = 'undid the firewalld changes already made'
            except FirewallPlanError as again:
                undone = 'undoing them failed too (%s), see the saved listings' % again
            raise ChangeFailed('applying the firewalld rules failed, %s: %s' % (undone, exc))
        layer = planned['layers']['runtime']
        state = fwd.set_owned(fwd.load_state(self.state_before), 'runtime', layer['owned'], layer['removed_openings'])
        self.write_state(state)
        self.state_after = state

    def verify(self, spec, planned, params, result):
        try:
            current = self.read(planned['zone'], self.state_after, layers=('runtime',))
            again = fwd.plan(spec, current, planned['zone'], params['firewalld_remove_open_port'], params['persist'],
                             layers=('runtime',))
            result['verified'] = not again['changed']
            if again['changed']:
                self.module.warn('reading the rich rules back does not give the planned state; the next run will '
                                 'report a change again: %s' % ' | '.join(again['diff'][2:12]))
            result['refused_sources'] = self.refused(spec, planned['zone'], current['default_zone'])
        except FirewallPlanError as exc:
            result['verified'] = False
            self.module.warn('reading the rich rules back failed: %s' % exc)

    def persist(self, persistence, result):
        try:
            return self.persist_layer(persistence)
        except FirewallPlanError as exc:
            self.module.fail_json(msg='writing firewalld\'s permanent configuration failed: %s' % exc, **result)

    def persist_layer(self, layer):
        """Apply the permanent layer's ops and record what pgsec owns there."""
        self.run_ops(layer['ops'])
        state = fwd.set_owned(fwd.load_state(read_text(fwd.STATE_FILE)), 'permanent', layer['owned'],
                              layer['removed_openings'])
        self.write_state(state)
        return fwd.describe(layer['ops'])

    def confirm_plan(self, meta, result):
        """The permanent layer's plan of a confirmed change, from what firewalld has now."""
        try:
            state = fwd.load_state(read_text(fwd.STATE_FILE))
            current = self.read(meta['zone'], state, layers=('permanent',))
            planned = fwd.plan(meta['spec'], current, meta['zone'], meta.get('remove_open_port'), meta['persist'],
                               layers=('permanent',))['layers']['permanent']
        except FirewallPlanError as exc:
            self.module.fail_json(msg='confirm: cannot plan firewalld\'s permanent configuration for change %s, its '
                                  'rollback stays armed: %s' % (meta['token'], exc), confirmed=None)
        result['firewalld_changes'] = fwd.describe(planned['ops'])
        return planned

    def confirm_persist(self, meta, planned, result):
        try:
            return self.persist_layer(planned)
        except FirewallPlanError as exc:
            self.module.fail_json(msg='confirm: change %s is kept in the runtime configuration, but writing the '
                                  'permanent one failed: %s' % (meta['token'], exc), **result)
