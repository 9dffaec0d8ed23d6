# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of postgresql_access_prerequisites: find what a feature needs, refuse what is missing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.pgsec.hardening.plugins.module_utils.controller_prerequisites import NEEDS, problems

try:
    from importlib.metadata import PackageNotFoundError, version as distribution_version
except ImportError:  # pragma: no cover - Python < 3.8 is not a supported controller
    distribution_version = None
    PackageNotFoundError = Exception


def python_version_of(name):
    if distribution_version is None:
        return None
    try:
        return distribution_version(name)
    except PackageNotFoundError:
        return None


def collection_root(plugin_path, name):
    """.../ansible_collections/NS/NAME of a resolved plugin path, or None."""
    namespace, collection = name.split('.', 1)
    path = os.path.dirname(plugin_path)
    while path and path != os.path.dirname(path):
        if os.path.basename(path) == collection and os.path.basename(os.path.dirname(path)) == namespace:
            return path
        path = os.path.dirname(path)
    return None


def installed_collection_version(root):
    """The version an installed collection (MANIFEST.json) or a source tree (galaxy.yml) declares."""
    manifest = os.path.join(root, 'MANIFEST.json')
    if os.path.exists(manifest):
        with open(manifest) as handle:
            return json.load(handle)['collection_info']['version']
    galaxy = os.path.join(root, 'galaxy.yml')
    if os.path.exists(galaxy):
        with open(galaxy) as handle:
            for line in handle:
                if line.startswith('version:'):
                    return line.split(':', 1)[1].strip().strip('"\'')
    return '0'


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        spec = dict(features=dict(type='list', elements='str', required=True, choices=sorted(NEEDS)))
        _validation, args = self.validate_argument_spec(argument_spec=spec)
        found = {}
        messages = []
        for feature in args['features']:
            collections = {}
            # Resolve a module the feature runs exactly as its task will, then read that collection's version.
            for name, module, _oldest, _untested in NEEDS[feature]['collections']:
                context = self._shared_loader_obj.module_loader.find_plugin_with_context(module)
                root = collection_root(context.plugin_resolved_path, name) if context.resolved else None
                collections[name] = installed_collection_version(root) if root else None
            pythons = dict((name, python_version_of(name)) for name, _oldest in NEEDS[feature]['python'])
            found[feature] = {'collections': collections, 'python': pythons}
            messages += problems(feature, collections, pythons, sys.executable)
        if messages:
            raise AnsibleActionFail(' '.join(messages), result=dict(found=found))
        result.update(changed=False, found=found)
        return result
