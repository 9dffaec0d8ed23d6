# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX example project and the execution environment definition, checked against the collection."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import re

import pytest
import yaml

from ansible_collections.pgsec.hardening.plugins.module_utils import policy
from ansible_collections.pgsec.hardening.plugins.modules import postgresql_access_report as access_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
PROJECT = os.path.join(ROOT, 'examples', 'awx')
# AWX lists a project file as a playbook when a line matches this (awx/main/utils/ansible.py).
AWX_PLAYBOOK_LINE = re.compile(r'^\s*?-?\s*?(?:hosts|include|import_playbook):\s*?.*?$')
# Question types and the type of their default (awx/api/views: JobTemplateSurveySpec.ALLOWED_TYPES).
SURVEY_TYPES = {'text': str, 'textarea': str, 'password': str, 'multiplechoice': str, 'multiselect': str,
                'integer': int, 'float': float}
SURVEY_TYPE_OF = {'str': ('text', 'textarea', 'password'), 'int': ('integer',), 'float': ('float',)}
# Variables of the playbooks themselves, with the option of the module that receives them.
AUDIT_FAIL_ON = yaml.safe_load(access_report.DOCUMENTATION)['options']['fail_on_severity']
PLAYBOOK_VARIABLES = {
    'audit': {'pgsec_audit_fail_on': dict(AUDIT_FAIL_ON, type='str')},
    'harden': {},
}


def read_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def access_options():
    return read_yaml(os.path.join(ROOT, 'roles', 'access', 'meta', 'argument_specs.yml'))['argument_specs']['main']['options']


def job_templates():
    return read_yaml(os.path.join(PROJECT, 'job_templates.yml'))['job_templates']


def surveys():
    return sorted(glob.glob(os.path.join(PROJECT, 'surveys', '*.json')))


def load_survey(path):
    with open(path) as handle:
        return json.load(handle)


def collection_playbook(path):
    """The name of the collection playbook a project playbook imports (harden, audit)."""
    play = read_yaml(path)[0]
    name = play['import_playbook']
    assert name.startswith('pgsec.hardening.'), name
    return name.split('.')[-1]


def options_for(playbook):
    """What a survey of a job template running this collection playbook may ask for."""
    options = dict(PLAYBOOK_VARIABLES[playbook])
    if playbook == 'harden':
        options.update(access_options())
    return options


@pytest.mark.parametrize('path', surveys(), ids=os.path.basename)
def test_surveys_are_awx_survey_specs(path):
    survey = load_survey(path)
    assert isinstance(survey['name'], str) and isinstance(survey['description'], str)
    assert isinstance(survey['spec'], list) and survey['spec']
    variables = [question['variable'] for question in survey['spec']]
    assert len(variables) == len(set(variables))
    for question in survey['spec']:
        assert isinstance(question['question_name'], str) and isinstance(question['required'], bool)
        kind = question['type']
        assert kind in SURVEY_TYPES
        if 'default' in question and question['default'] != '':
            assert isinstance(question['default'], SURVEY_TYPES[kind]), question
        for key in ('min', 'max'):
            assert question.get(key) is None or isinstance(question[key], int), question
        if kind in ('multiplechoice', 'multiselect'):
            choices = question['choices']
            choices = choices.splitlines() if isinstance(choices, str) else choices
            assert choices and question['default'] in choices, question
        if kind == 'integer' and 'min' in question:
            assert question['min'] <= question['default'] <= question['max'], question


def test_job_templates_run_the_project_playbooks_with_their_surveys():
    templates = job_templates()
    assert {template['name'] for template in templates} == {'pgsec harden', 'pgsec harden (check)', 'pgsec audit'}
    for template in templates:
        assert template['job_type'] in ('run', 'check')
        assert os.path.exists(os.path.join(PROJECT, template['playbook'])), template['playbook']
        assert os.path.exists(os.path.join(PROJECT, template['survey_spec'])), template['survey_spec']
        assert template['description'].strip()
    by_name = dict((template['name'], template) for template in templates)
    assert by_name['pgsec harden (check)']['job_type'] == 'check' and by_name['pgsec harden (check)']['diff_mode']
    assert by_name['pgsec harden']['job_type'] == 'run'


@pytest.mark.parametrize('template', job_templates(), ids=lambda template: template['name'])
def test_survey_questions_match_the_argument_specs(template):
    playbook = collection_playbook(os.path.join(PROJECT, template['playbook']))
    options = options_for(playbook)
    for question in load_survey(os.path.join(PROJECT, template['survey_spec']))['spec']:
        name = question['variable']
        assert name in options, '%s asks for %s, which %s does not read' % (template['name'], name, playbook)
        spec = options[name]
        choices = question.get('choices')
        choices = choices.splitlines() if isinstance(choices, str) else choices
        if spec.get('type') == 'bool':
            assert question['type'] == 'multiplechoice' and sorted(choices) == ['false', 'true'], name
            assert question['default'] == str(spec['default']).lower(), name
        elif spec.get('choices'):
            assert question['type'] == 'multiplechoice', name
            assert sorted(choices) == sorted(str(choice) for choice in spec['choices']), name
            assert question['default'] == spec['default'], name
        else:
            assert question['type'] in SURVEY_TYPE_OF[spec.get('type', 'str')], name
            assert question.get('default') == spec.get('default'), name


def test_surveys_never_ask_for_the_policy():
    # Survey answers are extra variables: they would override the policy kept in the inventory.
    group_vars = set()
    for path in glob.glob(os.path.join(PROJECT, 'inventory', 'group_vars', '*.yml')):
        group_vars |= set(read_yaml(path))
    for path in surveys():
        for question in load_survey(path)['spec']:
            assert question['variable'] not in policy.DEFAULT_POLICY, question['variable']
            assert question['variable'] not in group_vars, question['variable']


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(PROJECT, 'playbooks', '*.yml'))), ids=os.path.basename)
def test_project_playbooks_are_listed_by_awx_and_import_the_collection(path):
    with open(path) as handle:
        assert any(AWX_PLAYBOOK_LINE.match(line) for line in handle), 'AWX would not list %s' % path
    name = collection_playbook(path)
    assert os.path.exists(os.path.join(ROOT, 'playbooks', name + '.yml'))


def test_inventory_policy_uses_only_known_variables_with_valid_values():
    options = access_options()
    types = {'str': str, 'bool': bool, 'int': int, 'list': list, 'dict': dict}
    paths = glob.glob(os.path.join(PROJECT, 'inventory', 'group_vars', '*.yml'))
    assert paths
    for path in paths:
        for name, value in read_yaml(path).items():
            assert name in options, '%s: %s is not a variable of the access role' % (os.path.basename(path), name)
            kind = options[name].get('type', 'str')
            if kind in types:
                assert isinstance(value, types[kind]), (name, value)
            if options[name].get('choices'):
                assert value in options[name]['choices'], (name, value)


def test_project_installs_this_collection():
    requirements = read_yaml(os.path.join(PROJECT, 'collections', 'requirements.yml'))
    assert 'pgsec.hardening' in [entry['name'] for entry in requirements['collections']]
    inventory = read_yaml(os.path.join(PROJECT, 'inventory', 'hosts.yml'))
    groups = set(os.path.splitext(os.path.basename(path))[0]
                 for path in glob.glob(os.path.join(PROJECT, 'inventory', 'group_vars', '*.yml')))
    assert groups <= set(inventory) | {'all'}


def pins():
    with open(os.path.join(ROOT, 'requirements-dev.txt')) as handle:
        return dict(line.strip().split('==', 1) for line in handle if '==' in line and not line.startswith('#'))


def test_execution_environment_uses_the_tested_versions_and_the_collection_requirements():
    definition = read_yaml(os.path.join(ROOT, 'execution-environment.yml'))
    assert definition['version'] == 3
    dependencies = definition['dependencies']
    assert dependencies['python'] == 'requirements.txt' and dependencies['system'] == 'bindep.txt'
    tested = pins()
    for package in ('ansible_core', 'ansible_runner'):
        name, version = dependencies[package]['package_pip'].split('==')
        assert tested[name] == version, '%s: %s in the EE, %s in requirements-dev.txt' % (name, version, tested[name])
    meta = read_yaml(os.path.join(ROOT, 'meta', 'execution-environment.yml'))
    assert meta['dependencies'] == {'python': 'requirements.txt', 'system': 'bindep.txt'}


def test_base_image_is_a_placeholder_without_a_registry():
    name = read_yaml(os.path.join(ROOT, 'execution-environment.yml'))['images']['base_image']['name']
    first = name.split('/')[0]
    assert '/' not in name or not ('.' in first or ':' in first or first == 'localhost'), name
