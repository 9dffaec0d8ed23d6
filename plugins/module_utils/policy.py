# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access policy and its evaluation: facts + policy -> findings.

The policy is the collection's ``pgsec_*`` variables (see DEFAULT_POLICY). ``evaluate``
checks the facts of ``postgresql_access_facts`` against it and returns one finding per
control and cluster (per port for the firewall, per host for host-wide controls):

  {"id", "host", "cluster", "subject", "expected", "actual", "status", "severity",
   "reference", "title", "remediation"}

``status`` is relative to the policy: ``pass`` (compliant), ``fail`` (drift), ``manual``
(a person has to judge, or the control does not apply: the text says which) or ``error``
(the facts needed are missing). ``severity`` says how bad a failure of that finding is.
Findings are plain JSON-able data and never contain key material or passphrase commands.

Everything here is pure Python so that the audit module, the roles and unit tests share it.

Split by area: ``model`` (variables, merge_policy), ``profiles`` (the cis profile), ``listen``
(listen_addresses derivation), ``ciphers``, ``context`` (what every check uses), one
``checks_<area>`` file per area with its controls' metadata (CONTROLS) beside their checks, and
``evaluate`` (the catalogue and evaluate), in the package ``access_policy`` (ansible-test wants
a package's ``__init__.py`` empty). This module re-exports the public names, so
``module_utils.policy.evaluate`` and the other names keep working.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.ciphers import (  # noqa: F401
    redact,
    TLS_VERSIONS,
    WEAK_CIPHER_CLASSES,
    weak_cipher_classes,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.model import (  # noqa: F401
    CIS,
    CIS_AUTH_METHODS,
    CIS_BROAD_DATABASES,
    CIS_BROAD_USERS,
    CIS_DEFAULT_TLS_CIPHERS,
    CIS_MAX_PREFIX,
    CIS_TLS13_CIPHERS,
    CIS_TLS_CIPHERS,
    CIS_TLS_MIN_PROTOCOL,
    CLIENT_AUTH_METHODS,
    CLIENTCERT_MODES,
    DEFAULT_POLICY,
    default_policy,
    DEFAULT_TLS_CIPHERS,
    FIREWALL_BACKENDS,
    merge_policy,
    MissingFacts,
    PolicyError,
    PROFILES,
    SEVERITIES,
    STATUSES,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.profiles import (  # noqa: F401
    check_cis,
    cis_enforcement,
    CIS_MAPPING,
    cis_problems,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.listen import (  # noqa: F401
    client_sources,
    derive_listen_addresses,
    listen_addresses_for_clients,
)
from ansible_collections.pgsec.hardening.plugins.module_utils.access_policy.evaluate import (  # noqa: F401
    cis_finding_ids,
    cis_table,
    CONTROL_IDS,
    CONTROLS,
    controls,
    count_by_status,
    evaluate,
    severity_rank,
)

__all__ = (
    'check_cis',
    'CIS',
    'CIS_AUTH_METHODS',
    'CIS_BROAD_DATABASES',
    'CIS_BROAD_USERS',
    'CIS_DEFAULT_TLS_CIPHERS',
    'cis_enforcement',
    'cis_finding_ids',
    'CIS_MAPPING',
    'CIS_MAX_PREFIX',
    'cis_problems',
    'cis_table',
    'CIS_TLS13_CIPHERS',
    'CIS_TLS_CIPHERS',
    'CIS_TLS_MIN_PROTOCOL',
    'CLIENT_AUTH_METHODS',
    'client_sources',
    'CLIENTCERT_MODES',
    'CONTROL_IDS',
    'CONTROLS',
    'controls',
    'count_by_status',
    'DEFAULT_POLICY',
    'default_policy',
    'DEFAULT_TLS_CIPHERS',
    'derive_listen_addresses',
    'evaluate',
    'FIREWALL_BACKENDS',
    'listen_addresses_for_clients',
    'merge_policy',
    'MissingFacts',
    'PolicyError',
    'PROFILES',
    'redact',
    'SEVERITIES',
    'severity_rank',
    'STATUSES',
    'TLS_VERSIONS',
    'WEAK_CIPHER_CLASSES',
    'weak_cipher_classes',
)
