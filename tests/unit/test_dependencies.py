# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collections the content runs are declared once per consumer, and all say the same."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

import yaml

from ansible_collections.pgsec.hardening.plugins.module_utils.controller_prerequisites import NEEDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def load(name):
    with open(os.path.join(ROOT, name)) as handle:
        return yaml.safe_load(handle)


def used_collections():
    """Collections named by a task of a role or playbook (ansible.builtin aside)."""
    used = set()
    for path in glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml')) + glob.glob(
            os.path.join(ROOT, 'playbooks', '*.yml')):
        with open(path) as handle:
            for match in re.finditer(r'^\s*-?\s*([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:\s*$', handle.read(), re.M):
                used.add(match.group(1))
    return used - {'ansible.builtin', 'pgsec.hardening'}


# Collections only one provider of the cloud_firewall role runs: a user installs the one of the
# provider they use (README "Cloud firewalls"), so galaxy.yml does not make everyone install both.
PROVIDER_COLLECTIONS = {'amazon.aws': 'aws', 'openstack.cloud': 'openstack'}


def test_galaxy_declares_every_collection_the_content_runs():
    used = used_collections()
    assert set(PROVIDER_COLLECTIONS) <= used
    assert set(load('galaxy.yml')['dependencies']) == used - set(PROVIDER_COLLECTIONS) == {'community.crypto'}


def test_the_readme_names_the_collection_of_each_cloud_provider():
    with open(os.path.join(ROOT, 'README.md')) as handle:
        readme = handle.read()
    for collection in PROVIDER_COLLECTIONS:
        assert collection in readme, collection


def test_requirements_and_the_prerequisite_check_name_the_same_ranges():
    declared = load('galaxy.yml')['dependencies']
    requirements = dict((item['name'], item['version']) for item in load('requirements.yml')['collections'])
    checked = dict((name, '>=%s,<%s' % (oldest, untested))
                   for need in NEEDS.values() for name, _module, oldest, untested in need['collections'])
    assert requirements == declared == checked


def test_the_execution_environment_installs_them():
    assert load('execution-environment.yml')['dependencies']['galaxy'] == 'requirements.yml'


def test_python_requirements_match_the_prerequisite_check():
    with open(os.path.join(ROOT, 'requirements.txt')) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith('#')]
    checked = ['%s>=%s' % (name, oldest) for need in NEEDS.values() for name, oldest in need['python']]
    assert lines == checked
