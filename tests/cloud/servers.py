# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API servers of the cloud firewall tests, on 127.0.0.1: moto (AWS) and Neutron (OpenStack).

They run from the venv of tests/cloud/requirements-servers.txt (`make cloud-servers` builds it; the
Makefile exports its path as PGSEC_CLOUD_SERVERS). Each server is a child process of the test run,
stopped by its pid when the fixture ends, also when a test failed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def servers_venv():
    path = os.environ.get('PGSEC_CLOUD_SERVERS')
    if not path or not os.path.exists(os.path.join(path, 'bin', 'moto_server')):
        raise RuntimeError('PGSEC_CLOUD_SERVERS must name the cloud servers venv (make cloud-servers builds it)')
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class Server(object):
    """One API server process; start() returns once ready_path answers HTTP 200."""

    def __init__(self, name, argv, port, ready_path, log_path, timeout=60):
        self.name, self.argv, self.port, self.ready_path = name, argv, port, ready_path
        self.log_path, self.timeout = log_path, timeout
        self.process, self.start_seconds = None, None

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def start(self):
        began = time.monotonic()
        log = open(self.log_path, 'wb')
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        while time.monotonic() - began < self.timeout:
            if self.process.poll() is not None:
                raise RuntimeError('%s exited with %s; see %s' % (self.name, self.process.returncode, self.log_path))
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        self.start_seconds = time.monotonic() - began
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError('%s did not answer within %d s; see %s' % (self.name, self.timeout, self.log_path))

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def running(server):
    """The server started (its start time on stderr), stopped by its pid afterwards, also on failure."""
    server.start()
    sys.stderr.write('%s ready in %.1f s\n' % (server.name, server.start_seconds))
    try:
        yield server
    finally:
        server.stop()


def moto(state_dir):
    port = free_port()
    return Server('moto_server', [os.path.join(servers_venv(), 'bin', 'moto_server'), '-H', '127.0.0.1', '-p', str(port)],
                  port, '/moto-api/', os.path.join(state_dir, 'moto.log'))


def neutron(state_dir):
    port = free_port()
    data = os.path.join(state_dir, 'neutron')
    os.makedirs(data)
    return Server('neutron', [os.path.join(servers_venv(), 'bin', 'python'), os.path.join(HERE, 'neutron_api.py'),
                              str(port), data],
                  port, '/v2.0/security-groups', os.path.join(state_dir, 'neutron.log'))


def reset_moto(server):
    request = urllib.request.Request(server.url + '/moto-api/reset', data=b'', method='POST')
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


class ConnectionCounter(object):
    """A TCP port that accepts and counts connections: an endpoint that proves no API call was made."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(('127.0.0.1', 0))
        self.socket.listen(16)
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def connections(self):
        count = 0
        while True:
            try:
                peer, _address = self.socket.accept()
            except (BlockingIOError, OSError):
                return count
            peer.close()
            count += 1

    def close(self):
        self.socket.close()
