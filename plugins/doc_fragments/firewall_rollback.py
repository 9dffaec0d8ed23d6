# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """How a host firewall change is kept or undone: the rollback timer, its confirmation, persistence.

    The same for every backend (firewall/backend.py arms the rollback, firewall/run.py confirms it).
    """

    DOCUMENTATION = r'''
options:
  rollback_timeout:
    description:
      - Seconds after which the change is undone unless confirmed with O(confirm). V(0) applies without
        a rollback (and persists at once).
    type: int
    default: 30
  persist:
    description:
      - Keep the rules across reboots. nftables - C(/etc/nftables.d/pgsec.nft), included from
        C(/etc/nftables.conf), with C(nftables.service) enabled. iptables - C(/etc/pgsec-hardening/iptables.rules)
        and C(ip6tables.rules), loaded at boot by C(pgsec-firewall.service). firewalld - its permanent
        configuration.
      - V(false) removes such files written earlier; with firewalld, the rules stay in the runtime configuration
        only (a C(firewall-cmd --reload) drops them) and pgsec's rules leave the permanent one.
    type: bool
    default: true
  confirm:
    description:
      - A RV(rollback_token) returned by an earlier call. Cancels that rollback, writes the persistence
        (with firewalld, the permanent configuration) and deletes the saved ruleset; all other options are ignored.
      - Fails when the rollback already ran, or (firewalld) when the permanent configuration cannot be planned;
        the rollback then stays armed.
    type: str
  confirm_over_new_connection:
    description:
      - After loading the rules, drop the connection the change was made over, reach the host again over a new
        one and confirm the change in the same task, retrying until shortly before the rollback is due.
        The time a host waits for its confirmation so does not depend on the fleet size or on C(forks).
      - When the host cannot be reached again, the task fails and the host's rollback restores the previous rules.
      - V(false) returns RV(rollback_token) for a later call with O(confirm); unless that call comes in time,
        the change is undone.
    type: bool
    default: true
'''
