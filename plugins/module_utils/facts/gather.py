# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything about how a host's PostgreSQL clusters can be reached, in one pass.

The host is reached only through a HostIO (commands, file reads, stats), so the same
code runs inside the module and against recorded hosts in unit tests. Parsing lives in
the sibling modules (pg_config, pg_hba, listeners, x509, firewall); this module decides
what to read and assembles the result.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import json
import os
import posixpath
import pwd
import re
import shlex
import stat as stat_module

from ansible_collections.pgsec.hardening.plugins.module_utils.addresses import parse_ip_addresses, parse_ip_routes
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.parse import (
    parse_firewalld_zones,
    parse_iptables_save,
    parse_nft_json,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.firewall.verdict import summarize_port
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.live import (
    LIVE_SQL,
    LOG_TAIL_BYTES,
    parse_established,
    parse_live,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.listeners import (
    is_wildcard,
    listeners_for_process,
    parse_listeners,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_config import (
    parse_postgres_c_output,
    parse_server_config,
    split_setting,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.pg_files import local_list_dir, local_read_file
from ansible_collections.pgsec.hardening.plugins.module_utils.hba.parse import parse_hba
from ansible_collections.pgsec.hardening.plugins.module_utils.psql import as_user, run_psql
from ansible_collections.pgsec.hardening.plugins.module_utils.facts.x509 import inspect_tls

FACTS_VERSION = 1

# Settings that decide how a server can be reached; every ssl_* setting is added too.
ACCESS_SETTINGS = (
    'listen_addresses', 'port', 'unix_socket_directories', 'unix_socket_group',
    'unix_socket_permissions', 'password_encryption', 'authentication_timeout',
    'hba_file', 'ident_file', 'config_file', 'data_directory', 'external_pid_file',
    'max_connections', 'superuser_reserved_connections', 'log_connections',
    'log_disconnections', 'log_hostname', 'krb_server_keyfile', 'db_user_namespace',
    'tcp_keepalives_idle', 'client_connection_check_interval', 'shared_preload_libraries',
)
TLS_FILE_SETTINGS = ('ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'ssl_crl_file', 'ssl_crl_dir',
                     'ssl_dh_params_file')
# Where data directories live when the configuration is inside them (RHEL/PGDG, source builds).
PGDATA_CANDIDATES = ('/var/lib/pgsql/*/data', '/var/lib/pgsql/data', '/var/lib/postgresql/*/data',
                     '/usr/local/pgsql/data', '/var/lib/postgres/data')
DEBIAN_CONF_GLOB = '/etc/postgresql/*/*/postgresql.conf'

_SETTINGS_SQL = (
    "SELECT json_build_object("
    "'settings', (SELECT json_agg(json_build_object("
    "'name', name, 'setting', setting, 'unit', unit, 'context', context, 'source', source,"
    " 'sourcefile', sourcefile, 'sourceline', sourceline, 'pending_restart', pending_restart,"
    " 'vartype', vartype, 'boot_val', boot_val, 'reset_val', reset_val))"
    " FROM pg_catalog.pg_settings WHERE name = ANY(%s) OR name LIKE 'ssl%%'),"
    "'hba_rules', (SELECT json_agg(row_to_json(h)) FROM pg_catalog.pg_hba_file_rules h),"
    "'start_time', pg_catalog.pg_postmaster_start_time(),"
    "'server_version_num', pg_catalog.current_setting('server_version_num')::int,"
    "'server_version', pg_catalog.current_setting('server_version'),"
    "'conf_load_time', extract(epoch FROM pg_catalog.pg_conf_load_time()))"
)


def _unless_os_error(default, read, *args):
    """read(*args), or default when the path is missing or unreadable (facts report absence, never fail)."""
    try:
        return read(*args)
    except (IOError, OSError):
        return default


class HostIO(object):
    """The host as the facts code sees it. Subclassed by unit tests with recorded data."""

    def __init__(self, run_command=None):
        self._run_command = run_command

    def run(self, argv, environ_update=None):
        """(rc, stdout, stderr) of a command; rc 127 when the program is missing."""
        try:
            return self._run_command(argv, environ_update=environ_update or {})
        except (OSError, IOError) as exc:
            return 127, '', str(exc)

    def read_file(self, path):
        return _unless_os_error(None, local_read_file, path)

    def mtime(self, path):
        """Modification time (seconds since the epoch) of a path, None if missing."""
        st = _unless_os_error(None, os.stat, path)
        return st.st_mtime if st is not None else None

    def read_tail(self, path, size):
        """The last size bytes of a file as text (from the start of a line), None if unreadable."""
        try:
            with open(path, 'rb') as handle:
                handle.seek(0, os.SEEK_END)
                length = handle.tell()
                handle.seek(max(0, length - size))
                data = handle.read()
        except (IOError, OSError):
            return None
        text = data.decode('utf-8', 'replace')
        return text if length <= size else text.split('\n', 1)[-1]

    def list_dir(self, path):
        return _unless_os_error(None, local_list_dir, path)

    def list_names(self, path):
        return sorted(_unless_os_error([], os.listdir, path))

    def readlink(self, path):
        return _unless_os_error(None, os.readlink, path)

    def exists(self, path):
        return os.path.exists(path)

    def glob(self, pattern):
        import glob
        return sorted(glob.glob(pattern))

    def which(self, name, extra_dirs=()):
        for directory in list(extra_dirs) + os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin').split(':'):
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def stat(self, path):
        """Owner, group, mode and type of a path (not following a final symlink), None if missing."""
        st = _unless_os_error(None, os.lstat, path)
        if st is None:
            return None
        return describe_stat(path, st.st_mode, st.st_uid, st.st_gid, _user_name(st.st_uid), _group_name(st.st_gid))


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def describe_stat(path, mode, uid, gid, owner, group):
    kinds = ((stat_module.S_ISDIR, 'directory'), (stat_module.S_ISREG, 'file'), (stat_module.S_ISSOCK, 'socket'),
             (stat_module.S_ISLNK, 'link'))
    kind = next((name for test, name in kinds if test(mode)), 'other')
    return {'path': path, 'exists': True, 'type': kind, 'owner': owner, 'group': group, 'uid': uid,
            'gid': gid, 'mode': '%04o' % stat_module.S_IMODE(mode)}


def missing(path):
    return {'path': path, 'exists': False}


# ---------------------------------------------------------------------------- processes

def _parse_proc_stat(text):
    """(comm, ppid) from /proc/PID/stat."""
    close = text.rfind(')')
    comm = text[text.find('(') + 1:close]
    fields = text[close + 2:].split()
    return comm, int(fields[1])


def find_processes(io):
    """{pid: {comm, ppid, argv}} for every process on the host."""
    processes = {}
    for name in io.list_names('/proc'):
        if not name.isdigit():
            continue
        text = io.read_file('/proc/%s/stat' % name)
        if not text:
            continue
        comm, ppid = _parse_proc_stat(text)
        processes[int(name)] = {'comm': comm, 'ppid': ppid}
    return processes


def find_postmasters(io, processes):
    """Running postmasters: {pid, data_directory, executable, argv}, data directory from their cwd."""
    postmasters = []
    for pid, proc in sorted(processes.items()):
        if proc['comm'] not in ('postgres', 'postmaster'):
            continue
        parent = processes.get(proc['ppid'])
        if parent and parent['comm'] in ('postgres', 'postmaster'):
            continue  # a backend or auxiliary process
        argv = (io.read_file('/proc/%d/cmdline' % pid) or '').split('\0')
        postmasters.append({
            'pid': pid,
            'data_directory': io.readlink('/proc/%d/cwd' % pid),
            'executable': io.readlink('/proc/%d/exe' % pid),
            'argv': [arg for arg in argv if arg],
            'manager': find_manager(io, processes, proc['ppid']),
        })
    return postmasters


# Programs that run the postmaster as their child and own its configuration and restarts.
CLUSTER_MANAGERS = (('patroni', 'Patroni'), ('pg_autoctl', 'pg_auto_failover'))


def find_manager(io, processes, pid):
    """{name, pid} of a cluster manager among the postmaster's ancestors (Patroni, pg_auto_failover), or None."""
    seen = set()
    while pid and pid > 1 and pid not in seen:
        seen.add(pid)
        argv = (io.read_file('/proc/%d/cmdline' % pid) or '').replace('\0', ' ')
        words = [posixpath.basename(word) for word in argv.split()[:3]]
        for program, name in CLUSTER_MANAGERS:
            if any(word == program or word.startswith(program + '.') for word in words):
                return {'name': name, 'pid': pid}
        pid = (processes.get(pid) or {}).get('ppid')
    return None


def _config_file_from_argv(argv):
    for index, arg in enumerate(argv):
        for prefix in ('config_file=', '--config-file=', '--config_file='):
            if arg.startswith(prefix):
                return arg[len(prefix):]
            if arg == '-c' and index + 1 < len(argv) and argv[index + 1].startswith('config_file='):
                return argv[index + 1][len('config_file='):]
    return None


# ---------------------------------------------------------------------------- clusters

def _major_of(version_text):
    version_text = (version_text or '').strip()
    match = re.match(r'^(\d+)(?:\.(\d+))?', version_text)
    if not match:
        return None
    major = int(match.group(1))
    return '%d.%s' % (major, match.group(2)) if major < 10 and match.group(2) else str(major)


def discover_clusters(io, postmasters, data_directories=()):
    """Clusters on the host, each {id, layout, version, name, data_directory, config_file, postmaster}."""
    clusters = []
    seen = set()

    def add(cluster):
        key = os.path.normpath(cluster['data_directory'] or cluster['config_file'])
        if key in seen:
            return
        seen.add(key)
        clusters.append(cluster)

    running = {}
    for postmaster in postmasters:
        if postmaster['data_directory']:
            running[os.path.normpath(postmaster['data_directory'])] = postmaster

    for conf in io.glob(DEBIAN_CONF_GLOB):
        version, name = conf.split('/')[3:5]
        parsed = parse_server_config(conf, io.read_file, io.list_dir)
        data_dir_setting = parsed['settings'].get('data_directory')
        data_directory = data_dir_setting['value'] if data_dir_setting else '/var/lib/postgresql/%s/%s' % (version, name)
        add({'id': '%s/%s' % (version, name), 'layout': 'debian', 'version': version, 'name': name,
             'data_directory': data_directory, 'config_file': conf,
             'postmaster': running.get(os.path.normpath(data_directory)),
             'bindir': '/usr/lib/postgresql/%s/bin' % version})

    candidates = []
    for pattern in PGDATA_CANDIDATES:
        candidates.extend(io.glob(pattern))
    candidates.extend(data_directories)
    candidates.extend(p['data_directory'] for p in postmasters if p['data_directory'])
    for data_directory in candidates:
        if not io.exists(posixpath.join(data_directory, 'PG_VERSION')):
            continue
        postmaster = running.get(os.path.normpath(data_directory))
        config_file = (_config_file_from_argv(postmaster['argv']) if postmaster else None) \
            or posixpath.join(data_directory, 'postgresql.conf')
        bindir = posixpath.dirname(postmaster['executable']) if postmaster and postmaster['executable'] else None
        version = _major_of(io.read_file(posixpath.join(data_directory, 'PG_VERSION')))
        if not bindir:
            bindir = next((d for d in ('/usr/pgsql-%s/bin' % version, '/usr/lib/postgresql/%s/bin' % version,
                                       '/usr/local/pgsql/bin') if io.exists(posixpath.join(d, 'postgres'))), None)
        add({'id': data_directory, 'layout': 'pgdata', 'version': version, 'name': None,
             'data_directory': data_directory, 'config_file': config_file, 'postmaster': postmaster,
             'bindir': bindir})
    return clusters


# ---------------------------------------------------------------------------- settings

def normalize_value(name, value):
    """Values as pg_settings shows them: unix_socket_permissions in octal whatever base was written."""
    if name == 'unix_socket_permissions' and value not in (None, ''):
        try:
            return '%04o' % int(str(value), 8 if str(value).startswith('0') else 10)
        except ValueError:
            return value
    return value


def _as_setting(name, value, context=None, source=None, sourcefile=None, sourceline=None,
                pending_restart=False, boot_val=None, vartype=None, unit=None):
    return {'value': normalize_value(name, value), 'context': context, 'source': source, 'sourcefile': sourcefile,
            'sourceline': sourceline, 'pending_restart': bool(pending_restart), 'boot_val': boot_val,
            'vartype': vartype, 'unit': unit}


def wanted_setting(name):
    return name in ACCESS_SETTINGS or name.startswith('ssl')


def parse_describe_config(text):
    """``postgres --describe-config``: {name: {context, vartype, boot_val}}."""
    described = {}
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) < 5:
            continue
        described[fields[0].lower()] = {'context': fields[1], 'vartype': fields[3], 'boot_val': fields[4]}
    return described


def settings_from_server(rows):
    """pg_settings rows (from the JSON query) as {name: setting}."""
    settings = {}
    for row in rows or []:
        settings[row['name']] = _as_setting(
            row['name'], row['setting'], row['context'], row['source'], row['sourcefile'], row['sourceline'],
            row['pending_restart'], row['boot_val'], row['vartype'], row['unit'])
    return settings


def settings_from_files(parsed, described):
    """Effective settings of a stopped server: compiled defaults overridden by its files."""
    settings = {}
    for name, info in described.items():
        if wanted_setting(name):
            settings[name] = _as_setting(name, info['boot_val'], info['context'], 'default',
                                         boot_val=info['boot_val'], vartype=info['vartype'])
    for name, entry in parsed['settings'].items():
        if not wanted_setting(name):
            continue
        info = described.get(name, {})
        settings[name] = _as_setting(name, entry['value'], info.get('context'), 'configuration file',
                                     entry['file'], entry['line'], boot_val=info.get('boot_val'),
                                     vartype=info.get('vartype'))
    return settings


def annotate_file_values(settings, parsed):
    """Mark settings whose configuration files say something the running server does not use yet."""
    for name, entry in parsed['settings'].items():
        current = settings.get(name)
        if current is None or not wanted_setting(name):
            continue
        current['file_value'] = entry['value']
        current['file'] = entry['file']
        current['line'] = entry['line']
    auto_conf = parsed.get('auto_conf')
    for name, current in settings.items():
        current['from_auto_conf'] = bool(auto_conf and current.get('file') == auto_conf)


# ---------------------------------------------------------------------------- one cluster

class ClusterFacts(object):
    """Gathers one cluster's access surface; errors are recorded, never raised."""

    def __init__(self, io, cluster, host_listeners, server_user=None):
        self.io = io
        self.cluster = cluster
        self.host_listeners = host_listeners
        self.errors = []
        self.server_user = server_user

    def error(self, what, message):
        self.errors.append({'step': what, 'message': message})

    def psql(self, sql, socket_dir, port):
        psql = self.io.which('psql', [self.cluster['bindir']] if self.cluster['bindir'] else [])
        if not psql:
            return None, 'psql not found'
        rc, out, err = run_psql(self.io, psql, sql, socket_dir, port, self.server_user, only_as_root=True)
        if rc != 0:
            return None, (err or out).strip()[:500]
        return out, None

    def gather(self):
        cluster = self.cluster
        postmaster = cluster['postmaster']
        parsed = parse_server_config(cluster['config_file'], self.io.read_file, self.io.list_dir,
                                     cluster['data_directory'])
        for problem in parsed['errors']:
            self.error('config', '%s:%s: %s' % (problem['file'], problem['line'], problem['message']))
        facts = {
            'id': cluster['id'], 'layout': cluster['layout'], 'version': cluster['version'],
            'name': cluster['name'], 'data_directory': cluster['data_directory'],
            'config_file': cluster['config_file'], 'auto_conf_file': parsed.get('auto_conf'),
            'config_files_read': parsed.get('files', []), 'bindir': cluster['bindir'],
            'running': postmaster is not None, 'pid': postmaster['pid'] if postmaster else None,
            'manager': postmaster.get('manager') if postmaster else None,
            'server_user': self.server_user, 'settings_from': None, 'start_time': None,
            'server_version_num': None, 'listeners': {'tcp': [], 'unix': []},
        }
        listeners = listeners_for_process(self.host_listeners, self._fd_targets(postmaster)) if postmaster else []
        facts['listeners'] = {
            'tcp': [dict(l, wildcard=is_wildcard(l)) for l in listeners if l['family'] != 'unix'],
            'unix': [dict(l, stat=self.io.stat(l['path']) or missing(l['path']))
                     for l in listeners if l['family'] == 'unix'],
        }
        server = self._query_server(facts['listeners']['unix']) if postmaster else None
        if server:
            settings = settings_from_server(server.get('settings'))
            annotate_file_values(settings, parsed)
            facts.update({'settings_from': 'pg_settings', 'start_time': server.get('start_time'),
                          'server_version_num': server.get('server_version_num'),
                          'server_version': server.get('server_version')})
            hba_rules = server.get('hba_rules') or []
        else:
            settings = settings_from_files(parsed, self._describe_config())
            self._fill_numeric_defaults(settings)
            for entry in settings.values():
                entry['from_auto_conf'] = entry.get('sourcefile') == parsed.get('auto_conf')
            facts['settings_from'] = 'configuration files'
            hba_rules = None
        facts['settings'] = settings
        facts['socket_directories'] = self._socket_directories(settings)
        facts['hba'] = self._hba(settings, hba_rules)
        facts['tls'] = self._tls(settings)
        facts['live'] = self._live(facts['listeners']['unix'], settings) if server else None
        facts['conf_load_time'] = server.get('conf_load_time') if server else None
        facts['changed_since_load'] = self._changed_since_load(facts) if server else []
        facts['errors'] = self.errors
        return facts

    def _live(self, unix_listeners, settings):
        """Sessions, walsenders, slots, MD5-era roles and established connections (live_access)."""
        socket = unix_listeners[0]
        out, problem = self.psql(LIVE_SQL, posixpath.dirname(socket['path']), socket['port'])
        if problem:
            self.error('live', problem)
            return None
        port = str((settings.get('port') or {}).get('value') or socket['port'])
        ports = [int(port)] if port.isdigit() else None
        established = []
        for family, path in (('inet', '/proc/net/tcp'), ('inet6', '/proc/net/tcp6')):
            text = self.io.read_file(path)
            if text:
                established += parse_established(text, family, ports)
        try:
            return parse_live(out, established, self._log_tail(out))
        except ValueError as exc:
            self.error('live', 'unreadable answer from psql: %s' % exc)
            return None

    def _changed_since_load(self, facts):
        """Configuration, pg_hba and TLS files written after the server last read its configuration:
        on disk but not loaded (a run stopped between a write and the reload, or an edit without one)."""
        loaded = facts.get('conf_load_time')
        if loaded is None:
            return []
        paths = list(facts.get('config_files_read') or [])
        hba = facts.get('hba') or {}
        paths += [hba.get('file')] + list(hba.get('files') or [])
        paths += [entry['path'] for entry in ((facts.get('tls') or {}).get('files') or {}).values()
                  if entry.get('exists')]
        changed = []
        for path in sorted(set(p for p in paths if p)):
            mtime = self.io.mtime(path)
            if mtime is not None and mtime > float(loaded):
                changed.append({'path': path, 'mtime': mtime})
        return changed

    def _log_tail(self, live_answer):
        """The recent end of the server log: the collector's file, or Debian's pg_ctlcluster log."""
        try:
            current = json.loads(live_answer).get('logfile')
        except (ValueError, AttributeError):
            current = None
        cluster = self.cluster
        if current:
            path = current if posixpath.isabs(current) else posixpath.join(cluster['data_directory'], current)
        elif cluster['layout'] == 'debian':
            path = '/var/log/postgresql/postgresql-%s-%s.log' % (cluster['version'], cluster['name'])
        else:
            return None
        return self.io.read_tail(path, LOG_TAIL_BYTES)

    def _fd_targets(self, postmaster):
        base = '/proc/%d/fd' % postmaster['pid']
        return [target for target in (self.io.readlink(base + '/' + fd) for fd in self.io.list_names(base)) if target]

    def _query_server(self, unix_listeners):
        if not unix_listeners:
            self.error('pg_settings', 'the server has no Unix socket to query; settings read from files')
            return None
        socket = unix_listeners[0]
        sql = _SETTINGS_SQL % ("ARRAY[%s]" % ', '.join("'%s'" % name for name in ACCESS_SETTINGS))
        out, problem = self.psql(sql, posixpath.dirname(socket['path']), socket['port'])
        if problem:
            self.error('pg_settings', problem)
            return None
        try:
            return json.loads(out)
        except ValueError as exc:
            self.error('pg_settings', 'unreadable answer from psql: %s' % exc)
            return None

    def _describe_config(self):
        binary = posixpath.join(self.cluster['bindir'], 'postgres') if self.cluster['bindir'] else None
        if not binary or not self.io.exists(binary):
            self.error('describe-config', 'no postgres binary found for version %s' % self.cluster['version'])
            return {}
        rc, out, err = self.io.run([binary, '--describe-config'])
        if rc != 0:
            self.error('describe-config', err.strip()[:500])
            return {}
        return parse_describe_config(out)

    def _fill_numeric_defaults(self, settings):
        """--describe-config prints 0 for numeric and boolean defaults; ask ``postgres -C`` instead."""
        binary = posixpath.join(self.cluster['bindir'], 'postgres') if self.cluster['bindir'] else None
        config_dir = (self.cluster['data_directory'] if self.cluster['layout'] == 'pgdata'
                      else posixpath.dirname(self.cluster['config_file']))
        for name, entry in sorted(settings.items()):
            if entry['source'] != 'default' or entry['vartype'] not in ('INTEGER', 'BOOLEAN', 'REAL'):
                continue
            rc, out, err = self.io.run(as_user(self.io, self.server_user, [binary, '-D', config_dir, '-C', name],
                                               only_as_root=True))
            if rc == 0:
                entry['value'] = entry['boot_val'] = normalize_value(name, parse_postgres_c_output(out))
            else:
                self.error('postgres -C', '%s: %s' % (name, err.strip()[:300]))
                break

    def _path_setting(self, settings, name):
        entry = settings.get(name)
        if not entry or not entry['value']:
            return None
        value = entry['value']
        return value if value.startswith('/') else posixpath.join(self.cluster['data_directory'], value)

    def _socket_directories(self, settings):
        entry = settings.get('unix_socket_directories')
        directories = split_setting('unix_socket_directories', entry['value']) if entry else None
        if directories is None:
            return []
        return [self.io.stat(path) or missing(path) for path in directories if not path.startswith('@')]

    def _hba(self, settings, server_rules):
        hba_file = self._path_setting(settings, 'hba_file') or posixpath.join(
            posixpath.dirname(self.cluster['config_file']), 'pg_hba.conf')
        parsed = parse_hba(hba_file, self.io.read_file, self.io.list_dir)
        server_errors = [rule for rule in server_rules or [] if rule.get('error')]
        return {'file': hba_file, 'stat': self.io.stat(hba_file) or missing(hba_file),
                'rules': parsed['rules'], 'errors': parsed['errors'], 'valid': parsed['valid'],
                'server_errors': server_errors, 'files': parsed.get('files', [])}

    def _tls(self, settings):
        ssl = settings.get('ssl')
        files = {}
        for name in TLS_FILE_SETTINGS:
            path = self._path_setting(settings, name)
            if path:
                files[name] = self.io.stat(path) or missing(path)
        tls = {'enabled': bool(ssl) and ssl['value'] in ('on', 'true', 'yes', '1'),
               'library': (settings.get('ssl_library') or {}).get('value'), 'files': files,
               'certificate': None, 'key': None, 'chain': None}
        cert = files.get('ssl_cert_file')
        if cert and cert['exists']:
            key = files.get('ssl_key_file')
            ca = files.get('ssl_ca_file')
            inspected = inspect_tls(self.io.run, cert['path'],
                                    key['path'] if key and key['exists'] else None,
                                    ca['path'] if ca and ca['exists'] else None)
            tls.update(inspected)
        tls['passphrase_source'] = self._passphrase_source(settings)
        return tls

    def _passphrase_source(self, settings):
        """What ssl_passphrase_command reads, when it prints one file: {path, file (stat)}; None without a command."""
        command = ((settings.get('ssl_passphrase_command') or {}).get('value') or '').strip()
        if not command:
            return None
        path = passphrase_file_of(command)
        return {'path': path, 'file': (self.io.stat(path) or missing(path)) if path else None}


def passphrase_file_of(command):
    """The file an ssl_passphrase_command of the form "cat FILE" prints (PostgreSQL's "%%" undone), else None."""
    try:
        words = shlex.split(command.replace('%%', '%'))
    except ValueError:
        return None
    if len(words) == 2 and posixpath.basename(words[0]) == 'cat' and words[1].startswith('/'):
        return posixpath.normpath(words[1])
    return None


# ---------------------------------------------------------------------------- host

def gather_firewall(io, ports, firewalld_running=True):
    """The firewall backend in use and what it does to each PostgreSQL port.

    firewall-cmd is slow to start, so it is only asked when a firewalld process runs.
    """
    commands = {}
    nft = io.which('nft')
    if nft:
        rc, out, _err = io.run([nft, '-j', 'list', 'ruleset'])
        commands['nft'] = parse_nft_json(out) if rc == 0 and out.strip() else None
    iptables = []
    for save in ('iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save'):
        binary = io.which(save)
        if binary:
            rc, out, _err = io.run([binary])
            if rc == 0 and out.strip():
                iptables.append(parse_iptables_save(out, 6 if save.startswith('ip6') else 4))
    firewalld = None
    firewall_cmd = io.which('firewall-cmd')
    if firewall_cmd and firewalld_running and io.run([firewall_cmd, '--state'])[0] == 0:
        rc, out, _err = io.run([firewall_cmd, '--list-all-zones'])
        firewalld = parse_firewalld_zones(out) if rc == 0 else None
    summaries = {}
    backend = None
    for port in sorted(set(ports)):
        summary = summarize_port(port, commands.get('nft'), iptables, firewalld)
        backend = summary['backend']
        summaries[str(port)] = summary
    if backend is None:
        backend = summarize_port(5432, commands.get('nft'), iptables, firewalld)['backend']
    return {'backend': backend.get('primary'), 'active': backend.get('active'), 'details': backend,
            'ports': summaries}


def read_host_listeners(io):
    return parse_listeners(io.read_file('/proc/net/tcp'), io.read_file('/proc/net/tcp6'),
                           io.read_file('/proc/net/unix'))


def _ip_json(io, args):
    """stdout of ``ip ARGS``, None when ip is missing or fails."""
    ip = io.which('ip')
    if not ip:
        return None
    rc, out, _err = io.run([ip] + list(args))
    return out if rc == 0 else None


def parse_local_networks(json_text):
    """The host's own addresses with their prefix ("198.18.1.11/24") from ``ip -j address`` output."""
    if json_text is None:
        return None
    try:
        interfaces = json.loads(json_text)
    except ValueError:
        return None
    if not isinstance(interfaces, list):
        return None
    return ['%s/%s' % (info['local'], info['prefixlen'])
            for interface in interfaces if isinstance(interface, dict)
            for info in interface.get('addr_info') or [] if isinstance(info, dict)
            if 'local' in info and 'prefixlen' in info]


def local_networks(io):
    """The host's own addresses with their prefix ("198.18.1.11/24"), from ``ip -j address``."""
    return parse_local_networks(_ip_json(io, ['-j', 'address', 'show']))


def gather_network(io):
    """{local_networks, interfaces, routes} from one ``ip -j address`` and the main routing tables."""
    address_json = _ip_json(io, ['-j', 'address', 'show'])
    routes = []
    if address_json is not None:
        routes = (parse_ip_routes(_ip_json(io, ['-j', 'route', 'show', 'table', 'main']), 'ipv4')
                  + parse_ip_routes(_ip_json(io, ['-j', '-6', 'route', 'show', 'table', 'main']), 'ipv6'))
    return {'local_networks': parse_local_networks(address_json),
            'interfaces': parse_ip_addresses(address_json), 'routes': routes}


def gather_accounts():
    """{groups, users}: the names the host's name service knows (files, and LDAP or SSSD when configured)."""
    return {'groups': sorted(set(entry.gr_name for entry in grp.getgrall())),
            'users': sorted(set(entry.pw_name for entry in pwd.getpwall()))}


def gather(io, data_directories=(), firewall=True):
    """The whole access surface of the host: {version, clusters, firewall, local_networks, interfaces, routes}."""
    processes = find_processes(io)
    postmasters = find_postmasters(io, processes)
    host_listeners = read_host_listeners(io)
    clusters = []
    for cluster in discover_clusters(io, postmasters, data_directories):
        owner = io.stat(cluster['data_directory'])
        server_user = owner['owner'] if owner else 'postgres'
        try:
            clusters.append(ClusterFacts(io, cluster, host_listeners, server_user).gather())
        except Exception as exc:  # one broken cluster must not hide the others
            clusters.append({'id': cluster['id'], 'layout': cluster['layout'], 'version': cluster['version'],
                             'data_directory': cluster['data_directory'], 'config_file': cluster['config_file'],
                             'running': cluster['postmaster'] is not None,
                             'errors': [{'step': 'gather', 'message': '%s: %s' % (type(exc).__name__, exc)}]})
    ports = []
    for cluster in clusters:
        port = (cluster.get('settings') or {}).get('port')
        if port and str(port['value']).isdigit():
            ports.append(int(port['value']))
    facts = {'version': FACTS_VERSION, 'clusters': clusters, 'firewall': None}
    facts.update(gather_network(io))
    if firewall:
        firewalld_running = any(proc['comm'] == 'firewalld' for proc in processes.values())
        facts['firewall'] = gather_firewall(io, ports or [5432], firewalld_running)
    return facts
