# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' argument specs, their defaults, the policy code and the documentation say the same.

Module options need no test here: ansible-test's validate-modules compares DOCUMENTATION with
each module's argument_spec.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import importlib.util
import os
import re

import pytest
import yaml

from ansible_collections.pgsec.hardening.plugins.module_utils import lockout_guard, policy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
GENERATOR = os.path.join(ROOT, 'tests', 'tools', 'role_variables.py')
VARIABLE = re.compile(r'(?<![A-Za-z0-9_])pgsec_[a-z0-9_]+')
TYPES = {'str': str, 'bool': bool, 'int': int, 'list': list, 'dict': dict}
# Policy defaults a role deliberately does not apply.
ROLE_DEFAULT_EXCEPTIONS = {
    'pgsec_port': 'the roles change the port only when it is given; the audit expects 5432 unless told',
}
# Variables of the playbooks and the lab, and names the audit publishes with set_stats.
OTHER_VARIABLES = {'pgsec_target_hosts', 'pgsec_audit_report_dir', 'pgsec_audit_fail_on', 'pgsec_audit',
                   'pgsec_discover_dir', 'pgsec_harden_batch', 'pgsec_cloud_firewall'}
OTHER_PREFIXES = ('pgsec_lab_', 'pgsec_audit_host_')


def load_generator():
    spec = importlib.util.spec_from_file_location('role_variables', GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def read(path):
    with open(path) as handle:
        return handle.read()


SPECS = load_generator().load_specs(ROOT)
ROLES = sorted(SPECS)


def options_of(role):
    """[(entry point, option, spec)] of one role."""
    return [(entry, name, spec) for entry, options in SPECS[role].items() for name, spec in options.items()]


def description(spec):
    text = spec.get('description') or ''
    return ' '.join(text) if isinstance(text, list) else str(text)


def all_options():
    return [(role, entry, name, spec) for role in ROLES for entry, name, spec in options_of(role)]


def docs_text():
    paths = [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
    return '\n'.join(read(path) for path in paths)


def test_every_role_has_an_argument_spec():
    roles = sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, 'roles', '*')))
    assert ROLES == roles


@pytest.mark.parametrize('role', ROLES)
def test_defaults_are_declared_with_the_same_default(role):
    path = os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')
    defaults = read_yaml(path) if os.path.exists(path) else {}
    declared = {}
    for entry, name, spec in options_of(role):
        declared.setdefault(name, []).append((entry, spec))
    for name, value in (defaults or {}).items():
        assert name in declared, '%s: %s is in defaults/main.yml but in no entry point of the argument spec' % (role, name)
        for entry, spec in declared[name]:
            where = '%s:%s %s' % (role, entry, name)
            if isinstance(value, str) and '{{' in value:
                # A computed default cannot be shown as a value; the description must say what it is.
                assert 'default' not in spec, where + ': the default is computed; describe it instead'
                assert 'default' in description(spec).lower(), where + ': the description must give the default'
            else:
                assert spec.get('default') == value, '%s: spec default %r, defaults/main.yml %r' % (
                    where, spec.get('default'), value)


@pytest.mark.parametrize('role, entry, name, spec', all_options(),
                         ids=['%s:%s:%s' % item[:3] for item in all_options()])
def test_spec_defaults_have_the_declared_type(role, entry, name, spec):
    if spec.get('default') is None:
        return
    kind = spec.get('type', 'str')
    if kind in TYPES:
        assert isinstance(spec['default'], TYPES[kind]), (role, entry, name, spec['default'])
        assert kind == 'bool' or not isinstance(spec['default'], bool), (role, entry, name, spec['default'])
    if spec.get('choices'):
        assert spec['default'] in spec['choices'], (role, entry, name)


def test_a_variable_means_the_same_in_every_role():
    seen = {}
    for role, entry, name, spec in all_options():
        shape = dict((key, spec.get(key)) for key in ('type', 'elements', 'choices', 'default', 'required'))
        first = seen.setdefault(name, ('%s:%s' % (role, entry), shape))
        assert shape == first[1], '%s differs between %s %r and %s:%s %r' % (name, first[0], first[1], role, entry, shape)


def roles_run_by_access():
    """(role, entry point) of every role the access role runs, its dependencies included."""
    used = set()

    def add(role, entry):
        if (role, entry) in used:
            return
        used.add((role, entry))
        meta = read_yaml(os.path.join(ROOT, 'roles', role, 'meta', 'main.yml')) or {}
        for dependency in meta.get('dependencies') or []:
            name = dependency['role'] if isinstance(dependency, dict) else dependency
            add(name.split('.')[-1], 'main')

    add('access', 'main')
    for task in read_yaml(os.path.join(ROOT, 'roles', 'access', 'tasks', 'main.yml')):
        for action in ('ansible.builtin.import_role', 'ansible.builtin.include_role'):
            if action in task:
                add(task[action]['name'].split('.')[-1], task[action].get('tasks_from', 'main'))
    return sorted(used)


def test_access_accepts_every_variable_of_the_roles_it_runs():
    used = roles_run_by_access()
    assert {'internal', 'sockets', 'listen', 'tls', 'hba', 'firewall'} <= set(role for role, _entry in used)
    access = SPECS['access']['main']
    for role, entry in used:
        for name in SPECS[role].get(entry, {}):
            assert name in access, '%s (read by %s:%s) is missing from the access role\'s argument spec' % (
                name, role, entry)


def test_policy_defaults_are_the_documented_defaults():
    for role, entry, name, spec in all_options():
        if name in policy.DEFAULT_POLICY and name not in ROLE_DEFAULT_EXCEPTIONS:
            expected = policy.DEFAULT_POLICY[name]
            assert spec.get('default') == expected, '%s:%s %s: spec default %r, policy default %r' % (
                role, entry, name, spec.get('default'), expected)


@pytest.mark.parametrize('name, accepted', [
    ('pgsec_profile', policy.PROFILES),
    ('pgsec_firewall_backend', policy.FIREWALL_BACKENDS),
    ('pgsec_tls_clientcert', policy.CLIENTCERT_MODES),
    ('pgsec_lockout_guard', lockout_guard.GUARD_MODES),
])
def test_spec_choices_are_what_the_policy_code_accepts(name, accepted):
    specs = [spec for _role, _entry, option, spec in all_options() if option == name]
    assert specs
    for spec in specs:
        assert sorted(spec['choices']) == sorted(accepted), name


def test_variables_reference_is_current():
    generated = load_generator().render(SPECS)
    current = read(os.path.join(ROOT, 'docs', 'variables.md'))
    assert current == generated, 'docs/variables.md is out of date: python3 tests/tools/role_variables.py --write'


def test_every_variable_is_documented():
    text = docs_text()
    names = set(name for _role, _entry, name, _spec in all_options()) | set(policy.DEFAULT_POLICY)
    for path in glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')):
        names |= set(VARIABLE.findall(''.join(line for line in read(path).splitlines(True) if line.startswith('#'))))
    missing = sorted(name for name in names if not re.search(r'(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])' % name, text))
    assert not missing, 'not in README.md or docs/: %s' % ', '.join(missing)


def test_docs_name_only_variables_that_exist():
    known = set(name for _role, _entry, name, _spec in all_options()) | set(policy.DEFAULT_POLICY) | OTHER_VARIABLES
    paths = [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))) + sorted(
        glob.glob(os.path.join(ROOT, 'examples', '**', '*.*'), recursive=True))
    unknown = set()
    for path in paths:
        for name in VARIABLE.findall(read(path)):
            if name in known or name.startswith(OTHER_PREFIXES):
                continue
            if name.endswith('_') and any(other.startswith(name) for other in known):
                continue  # a prefix, as in "pgsec_* variables"
            unknown.add('%s (%s)' % (name, os.path.relpath(path, ROOT)))
    assert not unknown, 'unknown variables in the documentation: %s' % ', '.join(sorted(unknown))
