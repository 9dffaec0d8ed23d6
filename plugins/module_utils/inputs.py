# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking user input: one way to refuse a value (naming the variable and the value), one boolean reading.

Every planner raises its own error class (PolicyError, FirewallPlanError, HbaPlanError) so callers
can tell the stages apart; the message is always ``name: value why``. Each binds ``fail`` once:
``_fail = functools.partial(fail, PolicyError)``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean


def fail(error, name, value, why):
    """Raise error (an exception class) with the message ``name: 'value' why``."""
    raise error('%s: %r %s' % (name, value, why))


def as_bool(error, name, value):
    """value read as Ansible reads a bool option (ansible's convert_bool: yes/no, true/false, on/off, 1/0, y/n, t/f)."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        return fail(error, name, value, 'is not a boolean')


def as_list(error, name, value):
    """A list (None gives []); a string, mapping or scalar is refused."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        fail(error, name, value, 'is not a list')
    return list(value)
