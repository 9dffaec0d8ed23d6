# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """What the modules that check every area in check mode (drift, survey) share: they never change anything."""

    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Runs the same; it never changes anything.
    support: full
  diff_mode:
    description: No diff; the areas' own tasks show theirs.
    support: none
notes:
  - Runs as root, like the modules whose checks it runs.
'''
