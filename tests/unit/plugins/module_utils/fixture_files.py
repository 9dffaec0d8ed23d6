# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access to the recorded command outputs under fixtures/."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


def read_fixture(*parts):
    """Text of a recorded fixture, exactly as stored (no newline translation)."""
    with open(os.path.join(FIXTURES, *parts), 'rb') as handle:
        return handle.read().decode('utf-8')
