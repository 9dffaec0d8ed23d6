# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/bad-input-catalogue.md from tests/integration/bad_inputs.py, the cases test_faults runs on a lab host.

    python3 tests/tools/bad_input_catalogue.py          # print
    python3 tests/tools/bad_input_catalogue.py --write  # rewrite docs/bad-input-catalogue.md
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join('docs', 'bad-input-catalogue.md')


def load_catalogue(root=ROOT):
    spec = importlib.util.spec_from_file_location('bad_inputs', os.path.join(root, 'tests', 'integration', 'bad_inputs.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault('bad_inputs', module)
    spec.loader.exec_module(module)
    return module


def _cell(text):
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _value(value):
    return value if isinstance(value, str) and value.startswith('<') else json.dumps(value)


def render(root=ROOT):
    catalogue = load_catalogue(root)
    cases = list(catalogue.CATALOGUE) + [catalogue.TWO_FIREWALLS]
    lines = [
        '# Bad input catalogue',
        '',
        'Every input below is given to `pgsec.hardening.harden` on a real lab host by',
        '`tests/integration/test_faults.py`. Each run must fail at its first failing task, before any task',
        'changed anything, with an error that names the variable and shows the value; the host\'s',
        'configuration files, rulesets, groups, sockets and postmaster start time must be identical',
        'afterwards. %d inputs. Rendered from `tests/integration/bad_inputs.py` by' % len(cases),
        '`tests/tools/bad_input_catalogue.py`; a unit test keeps this page current.',
        '',
        '| # | Case | Role | Input | What is wrong | The error names |',
        '|---|---|---|---|---|---|',
    ]
    for number, case in enumerate(cases, 1):
        # The variables that make the case: its own, and what it sets besides the valid TLS material.
        shown = [(name, value) for name, value in sorted(case.given.items())
                 if name == case.variable or catalogue.VALID_TLS.get(name) != value]
        given = '; '.join('`%s: %s`' % (name, _cell(_value(value))) for name, value in shown)
        lines.append('| %d | %s | %s | %s | %s | `%s`, `%s` |' % (
            number, case.id, case.role, given, _cell(case.why), case.variable, _cell(case.words)))
    lines += ['', 'TLS material placeholders:', '']
    lines += ['- `%s`: %s' % (name, text) for name, text in catalogue.MATERIAL.items()]
    return '\n'.join(lines) + '\n'


def main(argv):
    text = render()
    if '--write' in argv:
        with open(os.path.join(ROOT, TARGET), 'w') as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


if __name__ == '__main__':
    main(sys.argv[1:])
