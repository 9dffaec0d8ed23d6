# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mapping table of docs/cis.md from the policy code (policy.CIS_MAPPING and the control catalogue).

    python3 tests/tools/cis_table.py          # print the table
    python3 tests/tools/cis_table.py --write  # rewrite the table in docs/cis.md (the text around it stays)
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join('docs', 'cis.md')
BEGIN = '<!-- BEGIN cis table: generated from plugins/module_utils/access_policy/ by tests/tools/cis_table.py; do not edit. -->'
END = '<!-- END cis table -->'


def load_policy():
    try:
        from ansible_collections.pgsec.hardening.plugins.module_utils import policy
    except ImportError:  # run from a checkout: the collection as `make collection` links it
        sys.path.insert(0, os.path.join(ROOT, '.build', 'collections'))
        from ansible_collections.pgsec.hardening.plugins.module_utils import policy
    return policy


def render(policy):
    return '\n'.join([BEGIN] + policy.cis_table() + [END])


def replace_table(text, table):
    """text with the part between BEGIN and END (markers included) replaced by table."""
    if BEGIN not in text or END not in text:
        raise ValueError('%s has no %s ... %s section' % (TARGET, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return head + table + tail


def main(argv):
    table = render(load_policy())
    if '--write' in argv:
        path = os.path.join(ROOT, TARGET)
        with open(path) as handle:
            text = handle.read()
        with open(path, 'w') as handle:
            handle.write(replace_table(text, table))
    else:
        sys.stdout.write(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
