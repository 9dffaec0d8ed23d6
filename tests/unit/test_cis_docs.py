# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/cis.md's table is the policy code's CIS_MAPPING, and the mapping agrees with the control catalogue."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os
import re

import pytest

from ansible_collections.pgsec.hardening.plugins.module_utils import policy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
GENERATOR = os.path.join(ROOT, 'tests', 'tools', 'cis_table.py')
ROLE_VARIABLES = os.path.join(ROOT, 'tests', 'tools', 'role_variables.py')


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path):
    with open(path) as handle:
        return handle.read()


def test_the_table_in_docs_is_generated_from_the_code():
    generator = load(GENERATOR, 'cis_table')
    text = read(os.path.join(ROOT, 'docs', 'cis.md'))
    expected = generator.replace_table(text, generator.render(policy))
    assert text == expected, 'docs/cis.md is out of date: python3 tests/tools/cis_table.py --write'


def test_replace_table_keeps_the_text_around_it():
    generator = load(GENERATOR, 'cis_table')
    text = 'intro\n%s\nold\n%s\noutro\n' % (generator.BEGIN, generator.END)
    assert generator.replace_table(text, 'NEW') == 'intro\nNEW\noutro\n'
    with pytest.raises(ValueError):
        generator.replace_table('no markers', 'NEW')


@pytest.mark.parametrize('row', policy.CIS_MAPPING, ids=[row[0] for row in policy.CIS_MAPPING])
def test_each_finding_names_its_control_in_reference(row):
    control, _requirement, _variables, _enforced, findings = row
    assert findings
    for finding in findings:
        assert finding in policy.CONTROL_IDS, finding
        reference = next(item['reference'] for item in policy.controls() if item['id'] == finding)
        assert re.search(r'(?<![0-9.])%s(?![0-9])' % re.escape(control), reference), (finding, reference)


def test_every_cis_referenced_control_is_in_the_mapping():
    mapped = set(policy.cis_finding_ids())
    referenced = set(item['id'] for item in policy.controls() if item['reference'].startswith(policy.CIS))
    assert referenced <= mapped, sorted(referenced - mapped)


def test_mapping_names_only_variables_that_exist():
    specs = load(ROLE_VARIABLES, 'role_variables').load_specs(ROOT)
    known = set(policy.DEFAULT_POLICY)
    for entry_points in specs.values():
        for options in entry_points.values():
            known.update(options)
    for control, _requirement, variables, _enforced, _findings in policy.CIS_MAPPING:
        for name in variables:
            assert name in known, (control, name)
