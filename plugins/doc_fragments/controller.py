# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Actions that run on the controller and show no diff."""

    DOCUMENTATION = r'''
options: {}
attributes:
  diff_mode:
    description: No diff.
    support: none
  action:
    description: Runs on the controller.
    support: full
'''
