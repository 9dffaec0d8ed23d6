# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/bad-input-catalogue.md is what tests/integration/bad_inputs.py holds."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location('bad_input_catalogue',
                                                  os.path.join(ROOT, 'tests', 'tools', 'bad_input_catalogue.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_catalogue_page_is_current():
    tool = load_tool()
    with open(os.path.join(ROOT, tool.TARGET)) as handle:
        assert handle.read() == tool.render(ROOT), 'run: python3 tests/tools/bad_input_catalogue.py --write'


def test_every_case_names_a_variable_it_sets_and_the_value_it_shows():
    catalogue = load_tool().load_catalogue(ROOT)
    cases = list(catalogue.CATALOGUE) + [catalogue.TWO_FIREWALLS]
    assert len(cases) >= 30
    for case in cases:
        assert case.variable in case.given, case.id
        assert case.variable.startswith('pgsec_') and case.words, case.id
        for value in case.given.values():
            if isinstance(value, str) and value.startswith('<'):
                assert value in catalogue.MATERIAL, (case.id, value)
