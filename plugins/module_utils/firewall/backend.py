# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every firewall backend implements, and what all of them share on the host.

``FirewallBackend`` is what ``run.converge`` and ``run.confirm`` drive: read the rules pgsec owns,
plan, write the rollback (saved ruleset + ``rollback.sh``), apply, verify, persist. One subclass per
file (``nftables.py``, ``iptables.py``, ``firewalld.py``), registered in ``select.REGISTRY``.

``Host`` is the only way to the managed host (commands, tool lookup); the rollback helpers below
(token, arming a systemd timer or a detached sleep, the ``armed`` marker rename race) are the same
for every backend.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import shutil
import signal
import time

from ansible_collections.pgsec.hardening.plugins.module_utils.files import read_text
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import parse_iptables_save, parse_nft_json
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.ruleset import STATE_DIR, FirewallPlanError

ROLLBACK_DIR = STATE_DIR + '/firewall-rollback'
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


class ChangeFailed(Exception):
    """Applying failed; the message says what was undone. The rollback was already disarmed."""


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
        state['firewalld'] = bool(firewall_cmd) and self.firewalld_process() and \
            self.run([firewall_cmd, '--state'])[0] == 0
        return state

    @staticmethod
    def firewalld_process():
        """Whether a firewalld process runs. firewall-cmd is a Python D-Bus client that takes most of a second
        to start, so ``--state`` is only asked when there is a daemon to answer."""
        for pid in os.listdir('/proc'):
            try:
                with open('/proc/%s/comm' % pid) as handle:
                    if handle.read().strip() == 'firewalld':
                        return True
            except (IOError, OSError):
                continue
        return False


def saves(state):
    """The iptables-save results of a Host.read state that parsed."""
    return [parsed for parsed in state['saves'].values() if parsed is not None]


class FirewallBackend(object):
    """One enforcement point for the PostgreSQL ports. Subclasses set ``name`` and implement the methods.

    ``choice`` is select.choose's answer (backend, variant, commands, reason); ``state`` is what
    Host.read found (and, for firewalld, the recorded state file).
    """

    name = None
    diff_header = 'pgsec firewall rules (%s)'

    def __init__(self, module, host, choice):
        self.module = module
        self.host = host
        self.choice = choice

    def result(self):
        """The result keys this backend always returns."""
        return dict(changed=False, backend=self.choice['backend'], variant=self.choice['variant'],
                    backend_reason=self.choice['reason'], before='', after='', rollback_token=None, persisted=[],
                    persist_pending=False)

    def plan(self, spec, params, state, result):
        """(planned, persistence): what changes in the rules and what persistence still needs (falsy: nothing)."""
        raise NotImplementedError

    def diff(self, planned, persistence):
        """The --diff entries."""
        raise NotImplementedError

    def prepare_rollback(self, spec, planned, params, directory):
        """Save the full ruleset, write rollback.sh (rollback_script) and the 'armed' marker; returns meta."""
        raise NotImplementedError

    def rollback_script(self, directory, planned):
        """The shell script the armed job runs when the change is not confirmed in time."""
        raise NotImplementedError

    def apply(self, spec, planned, params, directory, meta):
        """Change the live rules; ChangeFailed (after abort) when that fails."""
        raise NotImplementedError

    def verify(self, spec, planned, params, result):
        """Read back: result['verified'] and result['refused_sources']."""
        raise NotImplementedError

    def persist(self, persistence, result):
        """Write what persistence needs now; returns the list of what was done (fails with result)."""
        raise NotImplementedError

    def before_change(self):
        """Read what must be kept from before the change (called before prepare_rollback and apply)."""

    def confirm_plan(self, meta, result):
        """Before a confirmation cancels the rollback: what persist needs (None: computed in confirm_persist)."""
        return None

    def confirm_persist(self, meta, planned, result):
        """After the rollback is cancelled: write the persistence; returns what was done."""
        raise NotImplementedError

    def abort(self, directory, meta):
        """A change failed: make its rollback harmless and stop its job, before undoing by hand."""
        if directory:
            rename(directory, 'armed', 'failed')
            disarm(self.host, meta)

    def rollback_meta(self, spec, planned, params, directory, saved, **extra):
        """Write 'armed', arm the job and write meta.json; returns meta."""
        token = os.path.basename(directory)
        open(os.path.join(directory, 'armed'), 'w').close()
        meta = dict(token=token, created=int(time.time()), deadline=int(time.time()) + params['rollback_timeout'],
                    spec=spec, choice=self.choice, persist=params['persist'], saved_ruleset=saved, **extra)
        meta.update(arm(self.host, directory, token, params['rollback_timeout']))
        with open(os.path.join(directory, 'meta.json'), 'w') as stream:
            json.dump(meta, stream, indent=1, sort_keys=True)
        return meta


def rollback_directories(directory):
    """Create the root-only state directories a rollback lives in."""
    for path in (STATE_DIR, ROLLBACK_DIR, directory):
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
    os.chmod(STATE_DIR, 0o700)


def save_private(directory, name, text):
    """A root-only file of the rollback directory that must not exist yet; returns its path."""
    path = os.path.join(directory, name)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as stream:
        stream.write(text)
    return path


def script_head(directory, what=''):
    """The first lines of every rollback.sh: whoever renames 'armed' first wins."""
    return ['#!/bin/sh',
            '# pgsec.hardening: undoes firewall change %s%s unless postgresql_access_firewall confirmed it.'
            % (os.path.basename(directory), what),
            'cd %s || exit 0' % directory,
            '# Whoever renames "armed" first wins: this script (fired) or the confirmation (confirmed).',
            'mv armed fired 2>/dev/null || exit 0',
            'exec >>rollback.log 2>&1',
            'date "+%Y-%m-%dT%H:%M:%S%z rolling back"']


def new_token():
    return '%s-%s' % (time.strftime('%Y%m%dT%H%M%S'), ''.join('%02x' % byte for byte in bytearray(os.urandom(4))))


def spawn_detached(argv):
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


def pending(module):
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
            meta = json.loads(read_text(os.path.join(directory, 'meta.json')) or '{}')
            if time.time() > meta.get('deadline', 0) + EXPIRY_GRACE and rename(directory, 'armed', 'expired'):
                module.warn('the rollback of firewall change %s never ran (the host restarted?); the change was not '
                            'persisted, so the rules loaded at boot are the ones from before it' % token)
                continue
            armed.append(token)
        elif os.path.exists(os.path.join(directory, 'fired')) and not os.path.exists(os.path.join(directory, 'reported')):
            log = (read_text(os.path.join(directory, 'rollback.log')) or '').strip().replace('\n', ' / ')
            module.warn('firewall change %s was not confirmed in time and was rolled back (%s); the saved ruleset '
                        'is kept in %s' % (token, log, directory))
            open(os.path.join(directory, 'reported'), 'w').close()
    return armed


def arm(host, directory, token, timeout):
    script = os.path.join(directory, 'rollback.sh')
    unit = UNIT_PREFIX + token
    if host.systemd():
        host.run([host.which('systemd-run'), '--unit', unit, '--description',
                  'pgsec.hardening firewall rollback %s' % token, '--on-active', '%ds' % timeout,
                  '--timer-property', 'AccuracySec=1s', '--collect', '/bin/sh', script], check=True)
        return {'method': 'systemd', 'unit': unit}
    pid = spawn_detached(['/bin/sh', '-c', 'sleep %d; exec /bin/sh %s' % (timeout, script), unit])
    return {'method': 'process', 'pid': pid}


def disarm(host, meta):
    """Stop the timer or the sleeping process (the marker rename already made it harmless)."""
    if meta.get('method') == 'systemd':
        host.run([host.which('systemctl'), 'stop', meta['unit'] + '.timer'])
        return
    pid = meta.get('pid')
    cmdline = read_text('/proc/%s/cmdline' % pid) if pid else None
    if cmdline and meta['token'] in cmdline:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass


def rename(directory, old, new):
    try:
        os.rename(os.path.join(directory, old), os.path.join(directory, new))
        return True
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise


def arm_rollback(module, params, result, prepare):
    """(token, directory, meta) of a rollback armed by prepare(directory); (None, None, None) without rollback.

    Fails, having changed nothing, when the rollback cannot be prepared.
    """
    if params['rollback_timeout'] <= 0:
        return None, None, None
    token = new_token()
    directory = os.path.join(ROLLBACK_DIR, token)
    try:
        meta = prepare(directory)
    except (FirewallPlanError, IOError, OSError) as exc:
        if os.path.isdir(directory) and rename(directory, 'armed', 'failed'):
            shutil.rmtree(directory)
        module.fail_json(msg='cannot prepare the rollback, nothing was changed: %s' % exc, **result)
    result.update(rollback_token=token, rollback_deadline=meta['deadline'], rollback_method=meta['method'],
                  saved_ruleset=meta['saved_ruleset'])
    return token, directory, meta
