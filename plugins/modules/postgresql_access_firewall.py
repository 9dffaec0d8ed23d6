#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_firewall
short_description: Filter the PostgreSQL ports with nftables, iptables or firewalld, with a self-rollback
version_added: 0.1.0
description:
  - Lets only O(sources) connect to the TCP O(ports); with O(egress), also limits which hosts and ports
    processes of O(server_user) may open new connections to.
  - "Touches nothing it does not own: with nftables the table C(inet pgsec), replaced in one transaction;
    with iptables the chains C(PGSEC-INPUT) and C(PGSEC-OUTPUT) of table C(filter) and one jump to each at the
    top of C(INPUT) and C(OUTPUT), changed in one C(iptables-restore --noflush) per address family;
    with firewalld the rich rules it added to one zone, recorded in C(/var/lib/pgsec-hardening/firewalld.json)."
  - "firewalld: per client network and port, C(rule priority=\"-100\" family=... source address=... port port=...
    protocol=\"tcp\" accept), then per family C(rule priority=\"-99\" family=... port port=... protocol=\"tcp\"
    drop) (or C(reject type=\"tcp-reset\")), in the zone O(zone). Negative priorities put them before the zone's
    services and ports, so in that zone they decide who reaches the ports. A rule identical to one of these
    that existed before is left alone and never removed. Zones bound to other interfaces or sources are not
    changed: when they open the ports too, a warning names them. The runtime configuration changes at once,
    the permanent one when the change is confirmed; pgsec never runs C(firewall-cmd --reload), which would
    drop runtime-only rules of others."
  - Traffic to other ports is not looked at. Loopback traffic to the ports is always accepted.
  - "Rules can only narrow access: an C(accept) in C(inet pgsec) does not override a C(drop) in another
    nftables table, and other tables still apply after C(PGSEC-INPUT). Clients that the whole firewall
    still refuses after the change are returned in RV(refused_sources) with a warning."
  - "Before a change, the full ruleset is saved to a root-only directory under C(/var/lib/pgsec-hardening/)
    and a detached job is armed (a transient systemd timer C(pgsec-firewall-rollback-TOKEN), or a
    detached C(sleep) when systemd is not PID 1) that puts back what pgsec owned before unless the change
    is confirmed within O(rollback_timeout) seconds by calling the module again with O(confirm)."
  - The rollback undoes only pgsec's own rules (rules others changed meanwhile, such as fail2ban bans,
    are kept; with firewalld, the rich rules and zone openings pgsec changed); the saved full ruleset is
    there for manual recovery.
  - Persistence (O(persist)) is written when the change is confirmed, so a change that was rolled back
    does not come back at the next boot.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
options:
  backend:
    description:
      - Firewall to use. V(auto) keeps the backend that already holds pgsec's rules, else follows what the
        host uses (iptables-legacy or iptables-nft rules in use give V(iptables)), else V(nftables).
      - V(auto) chooses V(firewalld) when firewalld is running or holds pgsec's rich rules.
      - V(iptables) uses the variant in use (nft or legacy) with that variant's tools.
      - V(firewalld) adds rich rules to O(zone) through C(firewall-cmd); firewalld must be running.
      - Fails, naming C(pgsec_firewall_backend), when the backend is not installed, when firewalld runs and
        V(nftables) or V(iptables) is asked for, when pgsec's rules are in another backend, or when
        iptables-legacy rules and nftables rules would both filter incoming traffic.
    type: str
    choices: [auto, nftables, iptables, firewalld]
    default: auto
  ports:
    description: TCP ports of the PostgreSQL servers (and poolers) to filter. At most 15 with iptables.
    type: list
    elements: int
    default: [5432]
  sources:
    description:
      - Client addresses or networks (IPv4 and IPv6, CIDR) allowed to connect to O(ports).
      - An empty list closes the ports to every other host and needs O(allow_none=true).
    type: list
    elements: str
    default: []
  allow_none:
    description: Allow an empty O(sources), closing the ports to everyone but the host itself.
    type: bool
    default: false
  action:
    description: What happens to connections from other sources. V(reject) answers with a TCP reset.
    type: str
    choices: [drop, reject]
    default: drop
  log:
    description: Log refused connections (at most 5 per minute, prefix C(pgsec-refused:)).
    type: bool
    default: false
  zone:
    description:
      - firewalld only. Zone that gets the rich rules; default firewalld's default zone. It should be the zone
        of the interfaces (or sources) the clients come from.
      - pgsec's rules in another zone (an earlier O(zone)) are moved here.
    type: str
  firewalld_remove_open_port:
    description:
      - firewalld only. When O(zone) opens a port of O(ports) to every source (a service such as C(postgresql),
        or a C(ports) entry), remove that opening instead of failing. It is recorded in the state file and
        put back by the rollback, never by O(state=absent).
      - A service or port range that opens other ports too is never removed.
    type: bool
    default: false
  egress:
    description:
      - Hosts and ports processes of O(server_user) may open new connections to (replication, archive
        targets, LDAP...). Replies to clients and loopback traffic are always allowed; other new
        connections of that user are logged (prefix C(pgsec-egress-refused:)) and rejected.
      - Empty means no egress filtering. Other users are never affected.
      - Not possible with firewalld (it cannot match a user's connections).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Address or network (CIDR).
        type: str
        required: true
      port:
        description: Destination port.
        type: int
        required: true
      protocol:
        description: Transport protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
  server_user:
    description: OS user the PostgreSQL server runs as; used for O(egress).
    type: str
    default: postgres
  rollback_timeout:
    description:
      - Seconds after which the change is undone unless confirmed with O(confirm). V(0) applies without
        a rollback (and persists at once).
    type: int
    default: 30
  persist:
    description:
      - Keep the rules across reboots. nftables - C(/etc/nftables.d/pgsec.nft), included from
        C(/etc/nftables.conf), with C(nftables.service) enabled. iptables - C(/etc/pgsec-hardening/iptables.rules)
        and C(ip6tables.rules), loaded at boot by C(pgsec-firewall.service). firewalld - its permanent
        configuration.
      - V(false) removes such files written earlier; with firewalld, the rules stay in the runtime configuration
        only (a C(firewall-cmd --reload) drops them) and pgsec's rules leave the permanent one.
    type: bool
    default: true
  state:
    description: V(absent) removes every rule pgsec owns (from whichever backend holds them) and their persistence.
    type: str
    choices: [present, absent]
    default: present
  confirm:
    description:
      - A RV(rollback_token) returned by an earlier call. Cancels that rollback, writes the persistence
        (with firewalld, the permanent configuration) and deletes the saved ruleset; all other options are ignored.
      - Fails when the rollback already ran, or (firewalld) when the permanent configuration cannot be planned;
        the rollback then stays armed.
    type: str
attributes:
  check_mode:
    description: Reads the rules and reports what would change, changes nothing.
    support: full
  diff_mode:
    description: Shows the owned rules before and after, and the persistence files (firewalld - the rich rules of
      both configurations).
    support: full
notes:
  - Runs as root. Needs nft, or iptables/ip6tables with their -save and -restore tools, or a running firewalld
    (0.7 or later, for rich rule priorities) and C(firewall-cmd).
  - "firewalld: policies (firewalld 0.9 and later) run before the zones and are not looked at; a policy that
    accepts the ports from other hosts bypasses pgsec's rules."
seealso:
  - module: pgsec.hardening.postgresql_access_facts
'''

EXAMPLES = r'''
- name: Only the application network may reach PostgreSQL
  pgsec.hardening.postgresql_access_firewall:
    sources: [198.18.1.0/24, "2001:db8:1::/64"]
    action: reject
    log: true
  register: firewall

- name: The host still answers
  ansible.builtin.wait_for_connection:
    timeout: 10
  when: firewall.rollback_token

- name: Keep the change
  pgsec.hardening.postgresql_access_firewall:
    confirm: "{{ firewall.rollback_token }}"
  when: firewall.rollback_token

- name: The server user may only reach the standby and the archive host
  pgsec.hardening.postgresql_access_firewall:
    sources: [198.18.1.0/24]
    egress:
      - {host: 198.18.1.12, port: 5432}
      - {host: 198.18.2.5, port: 22}
    rollback_timeout: 0
'''

RETURN = r'''
backend:
  description: Backend used (C(nftables), C(iptables) or C(firewalld)); null when there was nothing to remove.
  returned: always
  type: str
  sample: nftables
variant:
  description: For iptables, C(nft) or C(legacy).
  returned: always
  type: str
backend_reason:
  description: Why this backend was chosen.
  returned: always
  type: str
before:
  description:
    - The rules pgsec owned before, in a canonical form (nft syntax, or iptables-save lines per family).
    - firewalld - the rich rules per zone and configuration (runtime, permanent).
  returned: always
  type: str
after:
  description: The rules pgsec owns after the change, in the same form.
  returned: always
  type: str
rollback_token:
  description:
    - Pass it as O(confirm) to keep the change; null when nothing was applied or O(rollback_timeout=0).
    - Also the token of an earlier change that is still waiting for its confirmation when this run finds
      the rules as wanted (RV(rollback_pending)), so that confirming keeps them.
  returned: always
  type: str
  sample: 20261125T114210-3f9a1c2e
rollback_pending:
  description: RV(rollback_token) belongs to an earlier, still unconfirmed change.
  returned: when such a change exists and nothing else had to change
  type: bool
rollback_deadline:
  description: Epoch seconds at which the rollback fires.
  returned: when a rollback was armed
  type: int
rollback_method:
  description: C(systemd) (transient timer unit) or C(process) (detached sleep, PID in the state directory).
  returned: when a rollback was armed
  type: str
saved_ruleset:
  description: Files holding the full ruleset as it was before the change.
  returned: when a rollback was armed
  type: list
  elements: str
persisted:
  description: Persistence files written or removed (and C(systemctl) actions), now.
  returned: always
  type: list
  elements: str
persist_pending:
  description: Persistence waits for the confirmation.
  returned: always
  type: bool
verified:
  description: Reading the rules back after the change gives exactly the planned state.
  returned: when rules were applied
  type: bool
refused_sources:
  description: Sources that the firewall as a whole still refuses (other tables drop them), with C(port) and C(default).
  returned: when rules were applied
  type: list
  elements: dict
confirmed:
  description: The token whose rollback was cancelled.
  returned: with O(confirm)
  type: str
zone:
  description: The firewalld zone that holds pgsec's rich rules.
  returned: with the firewalld backend
  type: str
  sample: public
firewalld_changes:
  description:
    - The firewalld changes, one line each (configuration, zone, add or remove, rich-rule/service/port, value),
      done or, in check mode, to be done. Those of the permanent configuration wait for the confirmation
      when RV(persist_pending).
  returned: with the firewalld backend
  type: list
  elements: str
  sample: ['runtime zone public: add rich-rule rule priority="-100" family="ipv4" source address="198.18.1.0/24"
    port port="5432" protocol="tcp" accept']
'''

import errno
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgsec.hardening.plugins.module_utils.firewall import (
    parse_firewalld_zones,
    parse_iptables_save,
    parse_nft_json,
    summarize_port,
)
from ansible_collections.pgsec.hardening.plugins.module_utils import firewalld_plan as fwd
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall_plan import (
    IPT_UNIT_FILE,
    IPT_UNIT_NAME,
    NFTABLES_CONF,
    STATE_DIR,
    FirewallPlanError,
    inspect_host,
    nftables_conf,
    normalize_spec,
    persist_files,
    plan,
    refused_sources,
)

ROLLBACK_DIR = STATE_DIR + '/firewall-rollback'
TOKEN = re.compile(r'^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$')
UNIT_PREFIX = 'pgsec-firewall-rollback-'
EXPIRY_GRACE = 60  # seconds after its deadline an armed rollback that did not run counts as dead
_VARIANT_TOOLS = {
    'iptables-nft': {'iptables': 'iptables-nft', 'ip6tables': 'ip6tables-nft', 'iptables-restore': 'iptables-nft-restore',
                     'iptables-save': 'iptables-nft-save', 'ip6tables-restore': 'ip6tables-nft-restore',
                     'ip6tables-save': 'ip6tables-nft-save'},
    'iptables-legacy': {'iptables': 'iptables-legacy', 'ip6tables': 'ip6tables-legacy',
                        'iptables-restore': 'iptables-legacy-restore', 'iptables-save': 'iptables-legacy-save',
                        'ip6tables-restore': 'ip6tables-legacy-restore', 'ip6tables-save': 'ip6tables-legacy-save'},
}


class Host(object):
    """Commands and files on the managed host."""

    def __init__(self, module):
        self.module = module

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=['/usr/sbin', '/sbin'])

    def run(self, argv, data=None, check=False):
        rc, out, err = self.module.run_command(argv, data=data, binary_data=True)
        if check and rc != 0:
            raise FirewallPlanError('%s failed (rc %d): %s' % (' '.join(argv), rc, (err or out).strip()))
        return rc, out, err

    def systemd(self):
        return os.path.isdir('/run/systemd/system') and self.which('systemctl') and self.which('systemd-run')

    def available(self):
        found = {'nft': self.which('nft'), 'firewall-cmd': self.which('firewall-cmd')}
        for variant, names in _VARIANT_TOOLS.items():
            tools = dict((tool, self.which(name)) for tool, name in names.items())
            found[variant] = dict((tool, path) for tool, path in tools.items() if path)
        # Without the Debian alternatives names, the plain tools count for the variant they report.
        plain = self.which('iptables')
        if plain:
            _rc, out, _err = self.run([plain, '--version'])
            variant = 'iptables-legacy' if '(legacy)' in out or '(nf_tables)' not in out else 'iptables-nft'
            for tool in _VARIANT_TOOLS[variant]:
                found[variant].setdefault(tool, self.which(tool))
            found[variant] = dict((tool, path) for tool, path in found[variant].items() if path)
        return found

    def read(self, available):
        """Everything the decision needs: nft ruleset, iptables saves of both variants, firewalld state."""
        state = {'nft': None, 'saves': {}}
        if available.get('nft'):
            rc, out, err = self.run([available['nft'], '-j', 'list', 'ruleset'])
            if rc != 0:
                raise FirewallPlanError('nft -j list ruleset failed: %s' % err.strip())
            state['nft'] = parse_nft_json(out)
        for variant in ('iptables-nft', 'iptables-legacy'):
            tools = available.get(variant) or {}
            for family, tool in ((4, 'iptables-save'), (6, 'ip6tables-save')):
                if tools.get(tool):
                    rc, out, _err = self.run([tools[tool]])
                    state['saves'][(variant, family)] = parse_iptables_save(out, family) if rc == 0 else None
        firewall_cmd = self.which('firewall-cmd')
        state['firewalld'] = bool(firewall_cmd) and self.run([firewall_cmd, '--state'])[0] == 0
        return state


def _saves(state):
    return [parsed for parsed in state['saves'].values() if parsed is not None]


def _current(host, choice, state):
    if choice['backend'] == 'nftables':
        listed = ''
        rc, out, _err = host.run([choice['commands']['nft'], 'list', 'table', 'inet', 'pgsec'])
        if rc == 0:
            listed = out
        return {'nft': state['nft'], 'table_text': listed}
    variant = 'iptables-' + choice['variant']
    return {'ipv4': state['saves'].get((variant, 4)), 'ipv6': state['saves'].get((variant, 6))}


def _write_file(module, path, content, mode, backup=False):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    if backup and os.path.exists(path):
        module.backup_local(path)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.pgsec-')
    with os.fdopen(handle, 'w') as stream:
        stream.write(content)
    if not os.path.exists(path):
        os.chmod(temporary, mode)
    module.atomic_move(temporary, path)


def _read_text(path):
    try:
        with open(path) as stream:
            return stream.read()
    except (IOError, OSError):
        return None


def _persistence(host, spec, choice, families, wanted):
    """[(path, new content or None to remove, backup)] and [systemctl actions] that persistence still needs.

    Present: the chosen backend's files. Absent (or persist false): pgsec's files of both backends go.
    """
    files, actions = [], []
    present = spec['state'] == 'present' and wanted
    if not present:
        spec = dict(spec, state='absent')
    backends = [choice['backend']] if present else ['nftables', 'iptables']
    systemctl = host.which('systemctl') if host.systemd() else None
    for backend in backends:
        for path, content in sorted(persist_files(spec, dict(choice, backend=backend), families).items()):
            if _read_text(path) != content and (content is not None or os.path.exists(path)):
                files.append((path, content, False))
        if backend == 'nftables':
            current = _read_text(NFTABLES_CONF)
            if current is not None or present:
                new = nftables_conf(current, present)
                if new is not None:
                    files.append((NFTABLES_CONF, new, True))
            if present and systemctl and host.run([systemctl, 'is-enabled', 'nftables.service'])[1].strip() != 'enabled':
                actions.append(['enable', 'nftables.service'])
        elif systemctl:
            enabled = host.run([systemctl, 'is-enabled', IPT_UNIT_NAME])[1].strip() == 'enabled'
            if present and (not enabled or files):
                actions.extend([['daemon-reload'], ['enable', IPT_UNIT_NAME]])
            elif not present and (enabled or os.path.exists(IPT_UNIT_FILE)):
                actions.append(['disable', IPT_UNIT_NAME])
    return files, actions


def _write_persistence(module, host, files, actions):
    done = []
    removing = [item for item in actions if item[0] == 'disable']
    for action in removing:
        host.run([host.which('systemctl')] + action, check=True)
        done.append('systemctl ' + ' '.join(action))
    for path, content, backup in files:
        if content is None:
            os.unlink(path)
            done.append('removed ' + path)
        else:
            _write_file(module, path, content, 0o755 if path.endswith('.sh') or path == NFTABLES_CONF else 0o644,
                        backup)
            done.append(path)
    for action in actions:
        if action[0] != 'disable':
            host.run([host.which('systemctl')] + action, check=True)
            done.append('systemctl ' + ' '.join(action))
    if removing and host.systemd():
        host.run([host.which('systemctl'), 'daemon-reload'])
    return done


def _load(host, choice, part, text, path=None):
    """Apply one part of a plan ('nftables', 'ipv4' or 'ipv6') from a file (or stdin)."""
    commands = choice['commands']
    if part == 'nftables':
        argv = [commands['nft'], '-f', path or '-']
    else:
        argv = [commands['iptables-restore' if part == 'ipv4' else 'ip6tables-restore'], '-w', '10', '--noflush']
        if path:
            argv.append(path)
    host.run(argv, data=None if path else text, check=True)


def _apply_order(parts):
    return [part for part in ('nftables', 'ipv4', 'ipv6') if part in parts]


def _new_token():
    return '%s-%s' % (time.strftime('%Y%m%dT%H%M%S'), ''.join('%02x' % byte for byte in bytearray(os.urandom(4))))


def _spawn_detached(argv):
    """Run argv double-forked in its own session and process group; returns its PID."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.setpgid(0, 0)
                os.chdir('/')
                null = os.open(os.devnull, os.O_RDWR)
                for descriptor in (0, 1, 2):
                    os.dup2(null, descriptor)
                os.closerange(3, 65536)
                os.execv(argv[0], argv)
            os.write(write_end, str(grandchild).encode('ascii'))
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    data = os.read(read_end, 32)
    os.close(read_end)
    return int(data)


def _pending(module):
    """Armed rollbacks (refuse to stack changes) and fired ones not reported yet (warn once).

    A change still armed well past its deadline had its job die with the host (reboot): it was
    never persisted, so the host booted without it; it is marked expired.
    """
    armed = []
    if not os.path.isdir(ROLLBACK_DIR):
        return armed
    for token in sorted(os.listdir(ROLLBACK_DIR)):
        directory = os.path.join(ROLLBACK_DIR, token)
        if os.path.exists(os.path.join(directory, 'armed')):
            meta = json.loads(_read_text(os.path.join(directory, 'meta.json')) or '{}')
            if time.time() > meta.get('deadline', 0) + EXPIRY_GRACE and _rename(directory, 'armed', 'expired'):
                module.warn('the rollback of firewall change %s never ran (the host restarted?); the change was not '
                            'persisted, so the rules loaded at boot are the ones from before it' % token)
                continue
            armed.append(token)
        elif os.path.exists(os.path.join(directory, 'fired')) and not os.path.exists(os.path.join(directory, 'reported')):
            log = (_read_text(os.path.join(directory, 'rollback.log')) or '').strip().replace('\n', ' / ')
            module.warn('firewall change %s was not confirmed in time and was rolled back (%s); the saved ruleset '
                        'is kept in %s' % (token, log, directory))
            open(os.path.join(directory, 'reported'), 'w').close()
    return armed


def _rollback_script(directory, choice, parts):
    lines = ['#!/bin/sh',
             '# pgsec.hardening: undoes firewall change %s unless postgresql_access_firewall confirmed it.'
             % os.path.basename(directory),
             'cd %s || exit 0' % directory,
             '# Whoever renames "armed" first wins: this script (fired) or the confirmation (confirmed).',
             'mv armed fired 2>/dev/null || exit 0',
             'exec >>rollback.log 2>&1',
             'date "+%Y-%m-%dT%H:%M:%S%z rolling back"']
    for part in _apply_order(parts):
        if part == 'nftables':
            command = '%s -f rollback-nftables.nft' % choice['commands']['nft']
        else:
            tool = choice['commands']['iptables-restore' if part == 'ipv4' else 'ip6tables-restore']
            command = '%s -w 10 --noflush rollback-%s.rules' % (tool, part)
        lines.append('if %s; then echo "%s restored"; else echo "%s: restore FAILED"; fi' % (command, part, part))
    return '\n'.join(lines) + '\n'


def _save_full_ruleset(host, choice, directory):
    saved = []
    if choice['backend'] == 'nftables':
        outputs = [('ruleset.nft', [choice['commands']['nft'], 'list', 'ruleset'])]
    else:
        outputs = [('iptables.save', [choice['commands']['iptables-save']]),
                   ('ip6tables.save', [choice['commands']['ip6tables-save']])]
    for name, argv in outputs:
        _rc, out, _err = host.run(argv, check=True)
        path = os.path.join(directory, name)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as stream:
            stream.write(out)
        saved.append(path)
    return saved


def _arm(host, directory, token, timeout):
    script = os.path.join(directory, 'rollback.sh')
    unit = UNIT_PREFIX + token
    if host.systemd():
        host.run([host.which('systemd-run'), '--unit', unit, '--description',
                  'pgsec.hardening firewall rollback %s' % token, '--on-active', '%ds' % timeout,
                  '--timer-property', 'AccuracySec=1s', '--collect', '/bin/sh', script], check=True)
        return {'method': 'systemd', 'unit': unit}
    pid = _spawn_detached(['/bin/sh', '-c', 'sleep %d; exec /bin/sh %s' % (timeout, script), unit])
    return {'method': 'process', 'pid': pid}


def _disarm(host, meta):
    """Stop the timer or the sleeping process (the marker rename already made it harmless)."""
    if meta.get('method') == 'systemd':
        host.run([host.which('systemctl'), 'stop', meta['unit'] + '.timer'])
        return
    pid = meta.get('pid')
    cmdline = _read_text('/proc/%s/cmdline' % pid) if pid else None
    if cmdline and meta['token'] in cmdline:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass


def _rename(directory, old, new):
    try:
        os.rename(os.path.join(directory, old), os.path.join(directory, new))
        return True
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


def confirm(module, host, token):
    if not TOKEN.match(token or ''):
        module.fail_json(msg='confirm: %r is not a rollback token of this module' % (token,))
    directory = os.path.join(ROLLBACK_DIR, token)
    meta = json.loads(_read_text(os.path.join(directory, 'meta.json')) or 'null')
    if meta is None:
        module.fail_json(msg='confirm: no firewall change %s is waiting on this host (%s missing)' % (token, directory))
    if not os.path.exists(os.path.join(directory, 'armed')):
        log = (_read_text(os.path.join(directory, 'rollback.log')) or '').strip().replace('\n', ' / ')
        why = {'fired': 'was already rolled back (%s)' % log, 'expired': 'expired: its rollback job never ran',
               'failed': 'failed to apply and was undone'}
        state = [marker for marker in why if os.path.exists(os.path.join(directory, marker))]
        reason = why[state[0]] if state else 'is no longer waiting'
        module.fail_json(msg='confirm: too late, firewall change %s %s' % (token, reason), confirmed=None)
    result = dict(changed=True, confirmed=token, backend=meta['choice']['backend'], persisted=[],
                  persist_pending=False)
    firewalld = None
    if meta['choice']['backend'] == 'firewalld':
        try:
            firewalld = _firewalld_persist_plan(host, meta)
        except FirewallPlanError as exc:
            module.fail_json(msg='confirm: cannot plan firewalld\'s permanent configuration for change %s, its '
                             'rollback stays armed: %s' % (token, exc), confirmed=None)
        result['firewalld_changes'] = fwd.describe(firewalld['ops'])
    if module.check_mode:
        module.exit_json(**result)
    if not _rename(directory, 'armed', 'confirmed'):
        module.fail_json(msg='confirm: too late, firewall change %s was rolled back just now' % token)
    _disarm(host, meta)
    if firewalld is not None:
        try:
            result['persisted'] = _firewalld_persist(module, host, meta['choice'], firewalld)
        except FirewallPlanError as exc:
            module.fail_json(msg='confirm: change %s is kept in the runtime configuration, but writing the permanent '
                             'one failed: %s' % (token, exc), **result)
    elif meta.get('persist') is not None:
        files, actions = _persistence(host, meta['spec'], meta['choice'], meta['families'], meta['persist'])
        result['persisted'] = _write_persistence(module, host, files, actions)
    shutil.rmtree(directory)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', choices=['auto', 'nftables', 'iptables', 'firewalld'], default='auto'),
            ports=dict(type='list', elements='int', default=[5432]),
            sources=dict(type='list', elements='str', default=[]),
            allow_none=dict(type='bool', default=False),
            action=dict(type='str', choices=['drop', 'reject'], default='drop'),
            log=dict(type='bool', default=False),
            zone=dict(type='str'),
            firewalld_remove_open_port=dict(type='bool', default=False),
            egress=dict(type='list', elements='dict', default=[], options=dict(
                host=dict(type='str', required=True),
                port=dict(type='int', required=True),
                protocol=dict(type='str', choices=['tcp', 'udp'], default='tcp'),
            )),
            server_user=dict(type='str', default='postgres'),
            rollback_timeout=dict(type='int', default=30),
            persist=dict(type='bool', default=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            confirm=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    host = Host(module)
    if params['confirm']:
        confirm(module, host, params['confirm'])
    if not 0 <= params['rollback_timeout'] <= 3600:
        module.fail_json(msg='rollback_timeout: %r is not between 0 and 3600 seconds' % params['rollback_timeout'])

    try:
        uid = None
        if params['egress'] and params['state'] == 'present':
            try:
                uid = pwd.getpwnam(params['server_user']).pw_uid
            except KeyError:
                module.fail_json(msg='server_user: %r does not exist on this host' % params['server_user'])
        spec = normalize_spec(dict(ports=params['ports'], sources=params['sources'], allow_none=params['allow_none'],
                                   action=params['action'], log=params['log'], egress=params['egress'],
                                   server_uid=uid, state=params['state']))
        available = host.available()
        state = host.read(available)
        detected = inspect_host(state['nft'], _saves(state), state['firewalld'], available)
        firewalld_state = fwd.load_state(_read_text(fwd.STATE_FILE))
        choice = fwd.choose(params['backend'], detected, params['state'], fwd.owns_rules(firewalld_state))
    except FirewallPlanError as exc:
        module.fail_json(msg=str(exc))
    if choice['backend'] == 'firewalld':
        _firewalld_main(module, host, spec, choice, params, firewalld_state)
    if params['zone'] or params['firewalld_remove_open_port']:
        module.warn('zone and firewalld_remove_open_port apply to the firewalld backend only; ignored with %s'
                    % (choice['backend'] or 'nothing to remove'))

    result = dict(changed=False, backend=choice['backend'], variant=choice['variant'],
                  backend_reason=choice['reason'], before='', after='', rollback_token=None, persisted=[],
                  persist_pending=False)
    planned = {'changed': False, 'before': '', 'after': '', 'families': [4, 6], 'apply': {}, 'rollback': {}}
    if choice['backend'] is not None:
        spec['backend'] = choice['backend']
        try:
            planned = plan(spec, _current(host, choice, state))
        except FirewallPlanError as exc:
            module.fail_json(msg=str(exc), **result)
    families = planned['families']
    if choice['backend'] == 'iptables' and 6 not in families and spec['sources_v6']:
        module.warn('ip6tables-save failed: IPv6 is not filtered, the IPv6 sources are ignored')
    files, actions = _persistence(host, spec, choice, families, params['persist'])
    result.update(before=planned['before'], after=planned['after'],
                  changed=planned['changed'] or bool(files or actions))
    if module._diff:
        result['diff'] = [dict(before=planned['before'], after=planned['after'],
                               before_header='pgsec firewall rules (%s)' % (choice['backend'] or 'none'),
                               after_header='pgsec firewall rules (%s)' % (choice['backend'] or 'none'))]
        for path, content, _backup in files:
            result['diff'].append(dict(before=_read_text(path) or '', after=content or '', before_header=path,
                                       after_header=path))
    if module.check_mode:
        module.exit_json(**result)
    armed = _pending(module)
    if armed and not planned['changed']:
        # An earlier change left the rules as wanted but was not confirmed (the play stopped in
        # between): hand out its token, or its rollback would undo them behind this run's back.
        result.update(rollback_token=armed[-1], rollback_pending=True, persist_pending=bool(files or actions))
        module.exit_json(**result)
    if not result['changed']:
        module.exit_json(**result)

    token = None
    if planned['changed']:
        token = _change(module, host, spec, choice, planned, families, params, result, armed)
    if files or actions:
        if token:
            result['persist_pending'] = True
        else:
            result['persisted'] = _write_persistence(module, host, files, actions)
    module.exit_json(**result)


def _prepare_rollback(host, spec, choice, planned, families, params, directory):
    """Save the full ruleset and the rollback files, then arm the rollback; returns its meta data."""
    token = os.path.basename(directory)
    parts = _apply_order(planned['apply'])
    for path in (STATE_DIR, ROLLBACK_DIR, directory):
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
    os.chmod(STATE_DIR, 0o700)
    saved = _save_full_ruleset(host, choice, directory)
    for part in parts:
        suffix = 'nft' if part == 'nftables' else 'rules'
        for kind in ('apply', 'rollback'):
            with open(os.path.join(directory, '%s-%s.%s' % (kind, part, suffix)), 'w') as stream:
                stream.write(planned[kind][part])
    with open(os.path.join(directory, 'rollback.sh'), 'w') as stream:
        stream.write(_rollback_script(directory, choice, parts))
    open(os.path.join(directory, 'armed'), 'w').close()
    meta = dict(token=token, created=int(time.time()), deadline=int(time.time()) + params['rollback_timeout'],
                spec=spec, choice=choice, families=families, persist=params['persist'], saved_ruleset=saved)
    meta.update(_arm(host, directory, token, params['rollback_timeout']))
    with open(os.path.join(directory, 'meta.json'), 'w') as stream:
        json.dump(meta, stream, indent=1, sort_keys=True)
    return meta


def _arm_rollback(module, params, result, prepare):
    """(token, directory, meta) of a rollback armed by prepare(directory); (None, None, None) without rollback.

    Fails, having changed nothing, when the rollback cannot be prepared.
    """
    if params['rollback_timeout'] <= 0:
        return None, None, None
    token = _new_token()
    directory = os.path.join(ROLLBACK_DIR, token)
    try:
        meta = prepare(directory)
    except (FirewallPlanError, IOError, OSError) as exc:
        if os.path.isdir(directory) and _rename(directory, 'armed', 'failed'):
            shutil.rmtree(directory)
        module.fail_json(msg='cannot prepare the rollback, nothing was changed: %s' % exc, **result)
    result.update(rollback_token=token, rollback_deadline=meta['deadline'], rollback_method=meta['method'],
                  saved_ruleset=meta['saved_ruleset'])
    return token, directory, meta


def _change(module, host, spec, choice, planned, families, params, result, armed):
    """Save, arm the rollback, apply and verify; returns the rollback token (None without rollback)."""
    parts = _apply_order(planned['apply'])
    if armed:
        module.fail_json(msg='firewall change %s is still waiting for its confirmation or its rollback; confirm it '
                         'or wait for the rollback, then run again' % armed[0], **result)
    token, directory, meta = _arm_rollback(
        module, params, result, lambda directory: _prepare_rollback(host, spec, choice, planned, families, params,
                                                                    directory))

    applied = []
    for part in parts:
        try:
            path = None
            if directory:
                path = os.path.join(directory, 'apply-%s.%s' % (part, 'nft' if part == 'nftables' else 'rules'))
            _load(host, choice, part, planned['apply'][part], path)
            applied.append(part)
        except FirewallPlanError as exc:
            undone = _undo(host, choice, planned, applied, directory, meta)
            result['rollback_token'] = None
            module.fail_json(msg='applying the %s rules failed, %s: %s' % (
                part, 'undid %s' % ', '.join(undone) if undone else 'nothing was changed', exc), **result)

    state = host.read(host.available())
    again = plan(spec, _current(host, choice, state))
    result['verified'] = not again['changed']
    if again['changed']:
        module.warn('reading the rules back does not give the planned state (nft/iptables printed them '
                    'differently); the next run will report a change again: %s' % ' | '.join(again['diff'][2:12]))
    summaries = dict((port, summarize_port(port, state['nft'], _saves(state))) for port in spec['ports'])
    result['refused_sources'] = refused_sources(spec, summaries) if spec['state'] == 'present' else []
    for item in result['refused_sources']:
        module.warn('port %d: %s is allowed by pgsec but still refused by other firewall rules (default %s); '
                    'open the port there too' % (item['port'], item['source'], item['default']))
    result['changed'] = True
    return token


def _undo(host, choice, planned, applied, directory, meta):
    """After a failed apply: disarm, then roll back the parts already applied, now."""
    if directory:
        _rename(directory, 'armed', 'failed')
        _disarm(host, meta)
    undone = []
    for part in reversed(applied):
        try:
            _load(host, choice, part, planned['rollback'][part])
            undone.append(part)
        except FirewallPlanError:
            pass
    return undone


# ---------------------------------------------------------------------------- firewalld

def _firewall_cmd(host, choice, args, layer='runtime', check=True):
    argv = [choice['commands']['firewall-cmd']] + (['--permanent'] if layer == 'permanent' else []) + list(args)
    rc, out, err = host.run(argv)
    if check and rc != 0:
        raise FirewallPlanError('%s failed (rc %d): %s' % (' '.join(argv), rc, (err or out).strip()))
    return rc, out, err


def _read_services(host, choice, names, services):
    """Add the definitions (``--info-service``, with their includes) of the named services to services."""
    pending = sorted(set(names) - set(services))
    while pending:
        name = pending.pop()
        info = None
        for layer in fwd.LAYERS:
            rc, out, _err = _firewall_cmd(host, choice, ['--info-service', name], layer, check=False)
            if rc == 0:
                info = fwd.parse_service_info(out)
                break
        services[name] = info  # None: unknown here, firewalld_plan falls back to the well-known ports
        for included in (info or {}).get('includes') or []:
            if included not in services and included not in pending:
                pending.append(included)
    return services


def _firewalld_read(host, choice, zone, state, layers=fwd.LAYERS):
    """What firewalld_plan.plan needs: default zone, ``--list-all`` of the zones involved per layer, services."""
    current = {'state': state, 'zones': {}, 'services': {}}
    current['default_zone'] = _firewall_cmd(host, choice, ['--get-default-zone'])[1].strip() or None
    target = zone or current['default_zone']
    for name in [target] + sorted(other for other in state['zones'] if other != target):
        if not name:
            continue
        for layer in layers:
            rc, out, err = _firewall_cmd(host, choice, ['--zone', name, '--list-all'], layer, check=False)
            if rc == 0:
                current['zones'].setdefault(name, {})[layer] = out
            elif 'INVALID_ZONE' not in (err or ''):
                raise FirewallPlanError('firewall-cmd --zone %s --list-all (%s) failed (rc %d): %s'
                                        % (name, layer, rc, (err or out).strip()))
    names = set()
    for listed in (current['zones'].get(target) or {}).values():
        parsed = fwd.parse_zone(listed)
        names.update(parsed['services'] if parsed else [])
    _read_services(host, choice, names, current['services'])
    return current


def _firewalld_apply(host, choice, ops):
    """Run ops through firewall-cmd (one call per group); FirewallPlanError naming what failed."""
    for argv in fwd.commands(choice['commands']['firewall-cmd'], ops):
        rc, out, err = host.run(argv)
        problems = fwd.command_errors(rc, out, err)
        if problems:
            raise FirewallPlanError('%s ...: %s' % (' '.join(argv[:5]), '; '.join(problems)))


def _write_firewalld_state(module, state):
    if not os.path.isdir(STATE_DIR):
        os.makedirs(STATE_DIR, 0o700)
    if fwd.owns_rules(state) or state['removed_openings']:
        _write_file(module, fwd.STATE_FILE, fwd.dump_state(state), 0o600)
    elif os.path.exists(fwd.STATE_FILE):
        os.unlink(fwd.STATE_FILE)


def _firewalld_persist_plan(host, meta):
    """The permanent layer's plan of a confirmed change, from what firewalld has now."""
    choice = meta['choice']
    state = fwd.load_state(_read_text(fwd.STATE_FILE))
    current = _firewalld_read(host, choice, meta['zone'], state, layers=('permanent',))
    planned = fwd.plan(meta['spec'], current, meta['zone'], meta.get('remove_open_port'), meta['persist'],
                       layers=('permanent',))
    return planned['layers']['permanent']


def _firewalld_persist(module, host, choice, layer):
    """Apply the permanent layer's ops and record what pgsec owns there."""
    _firewalld_apply(host, choice, layer['ops'])
    state = fwd.set_owned(fwd.load_state(_read_text(fwd.STATE_FILE)), 'permanent', layer['owned'],
                          layer['removed_openings'])
    _write_firewalld_state(module, state)
    return fwd.describe(layer['ops'])


def _firewalld_warnings(module, host, choice, spec, planned, zone):
    """Warn about rules pgsec leaves alone and zones that open the ports past pgsec's rules; returns the services read."""
    for rule in planned['foreign']:
        module.warn('firewalld zone %s already had %s, not added by pgsec: it is kept and never removed by pgsec'
                    % (zone, rule))
    for rule in planned['lookalikes']:
        module.warn('firewalld zone %s has %s, shaped like pgsec\'s rules but not recorded in %s: left alone (remove '
                    'it by hand if it is a leftover)' % (zone, rule, fwd.STATE_FILE))
    services = {}
    if spec['state'] != 'present':
        return services
    zones = parse_firewalld_zones(_firewall_cmd(host, choice, ['--list-all-zones'])[1])
    active = [data for name, data in zones['zones'].items() if data['interfaces'] or data['sources']]
    _read_services(host, choice, set(name for data in active for name in data['services']), services)
    for item in fwd.other_zone_openings(zones, zone, spec['ports'], services):
        ports = ', '.join(str(port) for port in spec['ports'])
        module.warn('firewalld zone %s (%s) also lets clients reach port(s) %s: %s; connections that zone handles '
                    'never reach pgsec\'s rules in zone %s' % (item['zone'], item['bound'], ports, '; '.join(item['opens']), zone))
    return services


def _firewalld_refused(host, choice, spec, zone, default_zone, services):
    """Sources of the spec that firewalld (or other tables) still refuses; only when zone is the default zone.

    (Clients of a zone bound to interfaces cannot be told apart here.)
    """
    if zone != default_zone or spec['state'] != 'present':
        return []
    zones = parse_firewalld_zones(_firewall_cmd(host, choice, ['--list-all-zones'])[1])
    # firewall-cmd 1.3 marks no zone "(default)" in --list-all-zones
    zones['default_zone'] = default_zone
    state = host.read(host.available())
    ports = {}
    for name in services:
        ports[name] = [[port, proto] for (low, high), proto in fwd.service_ports(services, name)
                       for port in spec['ports'] if low <= port <= high]
    summaries = dict((port, summarize_port(port, state['nft'], _saves(state), zones, service_ports=ports))
                     for port in spec['ports'])
    return refused_sources(dict(spec, backend=None), summaries)


def _firewalld_rollback_script(directory, choice, ops, state_saved):
    lines = ['#!/bin/sh',
             '# pgsec.hardening: undoes firewall change %s (firewalld runtime configuration) unless '
             'postgresql_access_firewall confirmed it.' % os.path.basename(directory),
             'cd %s || exit 0' % directory,
             '# Whoever renames "armed" first wins: this script (fired) or the confirmation (confirmed).',
             'mv armed fired 2>/dev/null || exit 0',
             'exec >>rollback.log 2>&1',
             'date "+%Y-%m-%dT%H:%M:%S%z rolling back"',
             'ok=1']
    for argv in fwd.commands(choice['commands']['firewall-cmd'], ops):
        lines.append('out=$(%s 2>&1) || ok=0' % ' '.join(shlex.quote(arg) for arg in argv))
        lines.append('printf "%s\\n" "$out"')
        lines.append('if printf "%s\\n" "$out" | grep -E "^(Warning|Error):" | grep -qv -e ALREADY_ENABLED '
                     '-e NOT_ENABLED; then ok=0; fi')
    if state_saved:
        lines.append('cp firewalld-state-before.json %s' % fwd.STATE_FILE)
    else:
        lines.append('rm -f %s' % fwd.STATE_FILE)
    lines.append('if [ "$ok" = 1 ]; then echo "firewalld restored"; else echo "firewalld: restore FAILED"; fi')
    return '\n'.join(lines) + '\n'


def _firewalld_prepare_rollback(host, spec, choice, planned, params, directory, state_before):
    token = os.path.basename(directory)
    for path in (STATE_DIR, ROLLBACK_DIR, directory):
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
    os.chmod(STATE_DIR, 0o700)
    saved = []
    for name, layer in (('firewalld-runtime.txt', 'runtime'), ('firewalld-permanent.txt', 'permanent')):
        out = _firewall_cmd(host, choice, ['--list-all-zones'], layer)[1]
        path = os.path.join(directory, name)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as stream:
            stream.write(out)
        saved.append(path)
    if state_before is not None:
        with open(os.path.join(directory, 'firewalld-state-before.json'), 'w') as stream:
            stream.write(state_before)
    with open(os.path.join(directory, 'rollback.sh'), 'w') as stream:
        stream.write(_firewalld_rollback_script(directory, choice, planned['rollback']['firewalld'],
                                                state_before is not None))
    open(os.path.join(directory, 'armed'), 'w').close()
    meta = dict(token=token, created=int(time.time()), deadline=int(time.time()) + params['rollback_timeout'],
                spec=spec, choice=choice, families=[4, 6], persist=params['persist'], saved_ruleset=saved,
                zone=planned['zone'], remove_open_port=params['firewalld_remove_open_port'])
    meta.update(_arm(host, directory, token, params['rollback_timeout']))
    with open(os.path.join(directory, 'meta.json'), 'w') as stream:
        json.dump(meta, stream, indent=1, sort_keys=True)
    return meta


def _firewalld_change(module, host, spec, choice, planned, params, result, armed, services):
    """Arm the rollback, change the runtime configuration, record it and verify; returns the token (or None)."""
    if armed:
        module.fail_json(msg='firewall change %s is still waiting for its confirmation or its rollback; confirm it '
                         'or wait for the rollback, then run again' % armed[0], **result)
    ops = planned['apply']['firewalld']
    state_before = _read_text(fwd.STATE_FILE)
    token, directory, meta = _arm_rollback(
        module, params, result, lambda directory: _firewalld_prepare_rollback(host, spec, choice, planned, params,
                                                                              directory, state_before))
    try:
        _firewalld_apply(host, choice, ops)
    except FirewallPlanError as exc:
        if directory:
            _rename(directory, 'armed', 'failed')
            _disarm(host, meta)
        try:
            _firewalld_apply(host, choice, fwd.invert(ops))
            undone = 'undid the firewalld changes already made'
        except FirewallPlanError as again:
            undone = 'undoing them failed too (%s), see the saved listings' % again
        result['rollback_token'] = None
        module.fail_json(msg='applying the firewalld rules failed, %s: %s' % (undone, exc), **result)
    layer = planned['layers']['runtime']
    state = fwd.set_owned(fwd.load_state(state_before), 'runtime', layer['owned'], layer['removed_openings'])
    _write_firewalld_state(module, state)

    try:
        current = _firewalld_read(host, choice, planned['zone'], state, layers=('runtime',))
        again = fwd.plan(spec, current, planned['zone'], params['firewalld_remove_open_port'], params['persist'],
                         layers=('runtime',))
        result['verified'] = not again['changed']
        if again['changed']:
            module.warn('reading the rich rules back does not give the planned state; the next run will report a '
                        'change again: %s' % ' | '.join(again['diff'][2:12]))
        result['refused_sources'] = _firewalld_refused(host, choice, spec, planned['zone'], current['default_zone'],
                                                       services)
    except FirewallPlanError as exc:
        result['verified'] = False
        module.warn('reading the rich rules back failed: %s' % exc)
    for item in result.get('refused_sources') or []:
        module.warn('port %d: %s is allowed by pgsec but still refused by other firewall rules (default %s); '
                    'open the port there too' % (item['port'], item['source'], item['default']))
    result['changed'] = True
    return token


def _firewalld_main(module, host, spec, choice, params, state):
    """The firewalld backend: plan both layers, change the runtime one (with the rollback), persist; exits."""
    result = dict(changed=False, backend='firewalld', variant=None, backend_reason=choice['reason'], before='',
                  after='', rollback_token=None, persisted=[], persist_pending=False, zone=None, firewalld_changes=[])
    try:
        spec = fwd.normalize(spec)
        current = _firewalld_read(host, choice, params['zone'], state)
        planned = fwd.plan(spec, current, params['zone'], params['firewalld_remove_open_port'], params['persist'])
        result['zone'] = planned['zone']
        services = _firewalld_warnings(module, host, choice, spec, planned, planned['zone'])
        services.update(current['services'])
    except FirewallPlanError as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(before=planned['before'], after=planned['after'],
                  changed=planned['changed'] or bool(planned['persist']),
                  firewalld_changes=fwd.describe(planned['apply'].get('firewalld', []) + planned['persist']))
    if module._diff:
        header = 'pgsec firewalld rich rules (zone %s)' % planned['zone']
        result['diff'] = [dict(before=planned['before'], after=planned['after'], before_header=header,
                               after_header=header)]
    if module.check_mode:
        module.exit_json(**result)
    armed = _pending(module)
    if armed and not planned['changed']:
        result.update(rollback_token=armed[-1], rollback_pending=True, persist_pending=bool(planned['persist']))
        module.exit_json(**result)
    if not result['changed']:
        module.exit_json(**result)
    token = None
    if planned['changed']:
        token = _firewalld_change(module, host, spec, choice, planned, params, result, armed, services)
    if planned['persist']:
        if token:
            result['persist_pending'] = True
        else:
            try:
                result['persisted'] = _firewalld_persist(module, host, choice, planned['layers']['permanent'])
            except FirewallPlanError as exc:
                module.fail_json(msg='writing firewalld\'s permanent configuration failed: %s' % exc, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
