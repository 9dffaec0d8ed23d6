# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller needs for a feature, and what is missing: checked before any host is touched.

A feature that runs another collection's modules on the controller fails deep inside them when that
collection or its Python library is missing or too old ("couldn't resolve module/action", or "Your
cryptography version does not support SECP384R1" with cryptography 46 and community.crypto 3.0).
Here each such need is one entry, so the refusal names the package and the version it needs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

# feature -> what it needs. Collections: (name, a module the feature runs, oldest tested, first untested).
# Python packages: (distribution name, oldest that works with the collections above).
NEEDS = {
    'tls_generate': {
        'variable': 'pgsec_tls_generate',
        'collections': [('community.crypto', 'community.crypto.openssl_privatekey', '2.22.0', '4.0.0')],
        'python': [('cryptography', '47.0.0')],
    },
}


def version_tuple(text):
    """'3.0.5' -> (3, 0, 5); pre-release and local suffixes are ignored ('47.0.0rc1' -> (47, 0, 0))."""
    parts = []
    for part in str(text).split('.'):
        match = re.match(r'\d+', part)
        if not match:
            break
        parts.append(int(match.group(0)))
    return tuple(parts)


def problems(feature, collection_versions, python_versions, python_executable):
    """Messages for what `feature` needs and the controller lacks (empty when nothing is missing).

    collection_versions: {name: version or None when not installed}; python_versions likewise.
    """
    need = NEEDS[feature]
    found = []
    for name, _module, oldest, untested in need['collections']:
        version = collection_versions.get(name)
        wanted = '>=%s,<%s' % (oldest, untested)
        if version is None:
            found.append("%s: true needs the collection %s (%s) on the controller, and it is not installed. "
                         "Install it with: ansible-galaxy collection install '%s:%s' (or install the "
                         "'ansible' package, which carries it)." % (need['variable'], name, wanted, name, wanted))
        elif not version_tuple(oldest) <= version_tuple(version) < version_tuple(untested):
            found.append("%s: true needs the collection %s %s on the controller; %s is installed. "
                         "Install a tested version with: ansible-galaxy collection install '%s:%s'."
                         % (need['variable'], name, wanted, version, name, wanted))
    for name, oldest in need['python']:
        version = python_versions.get(name)
        if version is None or version_tuple(version) < version_tuple(oldest):
            found.append("%s: true needs the Python package %s >= %s in the controller's Python (%s); %s. "
                         "Install it with: %s -m pip install '%s>=%s'."
                         % (need['variable'], name, oldest, python_executable,
                            'it is not installed' if version is None else 'found %s' % version,
                            python_executable, name, oldest))
    return found
