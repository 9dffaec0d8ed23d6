# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """The cluster a module acts on, as the facts module describes it."""

    DOCUMENTATION = r'''
options:
  cluster:
    description:
      - The cluster, as an entry of C(ansible_facts.pgsec.clusters) from M(pgsec.hardening.postgresql_access_facts).
      - The keys this module needs are in its notes.
    type: dict
    required: true
author:
  - pgsec.hardening maintainers (@pgsec-hardening)
seealso:
  - module: pgsec.hardening.postgresql_access_facts
'''
