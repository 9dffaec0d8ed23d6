# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/variables.md from the roles' argument specs: one row per variable, with the roles that read it.

    python3 tests/tools/role_variables.py          # print
    python3 tests/tools/role_variables.py --write  # rewrite docs/variables.md
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join('docs', 'variables.md')
# The role whose wording describes a variable best: the one that does the work, not the one that runs it.
ROLE_ORDER = ('internal', 'sockets', 'listen', 'tls', 'hba', 'firewall', 'access')
MARKUP = re.compile(r'\b([BCIMOV])\(([^()]*)\)')


def load_specs(root=ROOT):
    """{role: {entry point: {option: spec}}} of every role with meta/argument_specs.yml."""
    specs = {}
    roles_dir = os.path.join(root, 'roles')
    for role in sorted(os.listdir(roles_dir)):
        path = os.path.join(roles_dir, role, 'meta', 'argument_specs.yml')
        if os.path.exists(path):
            with open(path) as handle:
                entry_points = yaml.safe_load(handle)['argument_specs']
            specs[role] = dict((name, entry.get('options') or {}) for name, entry in entry_points.items())
    return specs


def _text(description):
    if isinstance(description, list):
        description = ' '.join(description)
    text = ' '.join(str(description or '').split())

    def plain(match):
        kind, inner = match.groups()
        if kind == 'B':
            return '**%s**' % inner
        if kind == 'I':
            return '*%s*' % inner
        return '`%s`' % inner
    return MARKUP.sub(plain, text).replace('|', '\\|')


def _value(value):
    return '`%s`' % json.dumps(value, sort_keys=True)


def _suboptions(options):
    parts = []
    for name, spec in options.items():
        kind = spec.get('type', 'str')
        flags = [kind] + (['required'] if spec.get('required') else [])
        if 'default' in spec:
            flags.append('default %s' % _value(spec['default']))
        parts.append('`%s` (%s): %s' % (name, ', '.join(flags), _text(spec.get('description'))))
    return parts


def variables(specs):
    """{variable: {'spec': spec of the describing role, 'readers': [role or role:entry point]}}."""
    rank = dict((role, index) for index, role in enumerate(ROLE_ORDER))
    found = {}
    for role in sorted(specs, key=lambda name: (rank.get(name, len(rank)), name)):
        for entry_point, options in specs[role].items():
            if entry_point != 'main' and options is specs[role].get('main'):
                continue  # a YAML alias of main's options (internal:survey): listed once, under the role
            for name, spec in options.items():
                item = found.setdefault(name, {'spec': spec, 'readers': []})
                reader = role if entry_point == 'main' else '%s:%s' % (role, entry_point)
                if reader not in item['readers']:
                    item['readers'].append(reader)
    return found


def render(specs):
    lines = [
        '<!-- Generated from roles/*/meta/argument_specs.yml by tests/tools/role_variables.py; do not edit. -->',
        '# Role variables',
        '',
        'Every variable the roles read, once, with the roles (and entry points other than `main`) that read it.',
        '`ansible-doc -t role pgsec.hardening.ROLE` shows the same per role. The `access` role runs the others',
        'and accepts all of them.',
        '',
        '| Variable | Type | Default | Read by | Description |',
        '|---|---|---|---|---|',
    ]
    for name, item in sorted(variables(specs).items()):
        spec = item['spec']
        kind = spec.get('type', 'str')
        if spec.get('elements'):
            kind = '%s of %s' % (kind, spec['elements'])
        if spec.get('choices'):
            kind = '%s: %s' % (kind, ', '.join('`%s`' % choice for choice in spec['choices']))
        default = _value(spec['default']) if 'default' in spec else ''
        description = ' '.join([_text(spec.get('description'))] + _suboptions(spec.get('options') or {}))
        lines.append('| `%s` | %s | %s | %s | %s |' % (name, kind, default, ', '.join(item['readers']), description))
    return '\n'.join(lines) + '\n'


def main(argv):
    text = render(load_specs())
    if '--write' in argv:
        with open(os.path.join(ROOT, TARGET), 'w') as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
