#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_prerequisites
short_description: Check that the controller has what a feature of the collection needs
version_added: 0.1.0
description:
  - Some features run other collections' modules on the controller, for example O(features=tls_generate)
    (C(pgsec_tls_generate=true)) creates a CA and certificates with C(community.crypto).
  - This action finds each collection the way its tasks will (through Ansible's plugin loader) and reads
    its version, and reads the version of each Python package in the controller's Python. A missing or
    untested collection, or a Python package that is too old, fails the task with a message naming it, the
    version needed and how to install it, before any host is touched.
  - Runs on the controller (it is an action plugin); it changes nothing.
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
extends_documentation_fragment:
  - pgsec.hardening.controller
options:
  features:
    description:
      - The features to check.
      - V(tls_generate) needs the collection C(community.crypto) (>= 2.22.0, < 4.0.0) and the Python package
        C(cryptography) >= 47.0.0 (community.crypto 3.0 cannot make SECP384R1 keys with cryptography 46).
    type: list
    elements: str
    required: true
    choices: [tls_generate]
attributes:
  check_mode:
    description: Checks the same in check mode; it changes nothing.
    support: full
notes:
  - Python packages are looked up in the Python that runs C(ansible-playbook), which is the Python of
    tasks delegated to the implicit C(localhost).
'''

EXAMPLES = r'''
- name: Refuse early when the controller cannot generate certificates
  pgsec.hardening.postgresql_access_prerequisites:
    features: [tls_generate]
  run_once: true
'''

RETURN = r'''
found:
  description: What was found, per feature, also when the task fails.
  returned: always
  type: dict
  sample:
    tls_generate:
      collections: {community.crypto: 3.0.5}
      python: {cryptography: 50.0.2}
'''
