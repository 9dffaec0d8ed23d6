#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_config
short_description: Own a set of PostgreSQL settings in a managed drop-in file
version_added: 0.1.0
description:
  - Writes O(settings) to C(pgsec.d/OWNER.conf) next to C(postgresql.conf) and makes sure
    C(postgresql.conf) includes that directory last (C(include_dir = 'pgsec.d')).
  - Every other active assignment of a managed setting is dealt with so that it cannot silently
    win over the drop-in; lines in C(postgresql.conf) and the files it includes are commented out
    with a note, lines written by C(ALTER SYSTEM) are removed from C(postgresql.auto.conf).
    With O(conflicts=fail) such an assignment fails the task instead.
  - Before anything is written, the planned files are validated by the server binary itself in a
    staging copy (C(postgres -C)); the value it reports for each setting must be the one asked for.
  - Reports which changed settings need a reload and which a restart, from C(pg_settings.context)
    of the running server (or C(postgres --describe-config) when it is stopped). It never reloads or
    restarts; pass the result to M(pgsec.hardening.postgresql_access_apply) (the roles do so from a handler).
  - Files are written atomically, keep their owner, group and mode, and are backed up first.
extends_documentation_fragment:
  - pgsec.hardening.cluster
options:
  owner:
    description:
      - Name of the drop-in file (C(pgsec.d/OWNER.conf)); each role owns one.
    type: str
    required: true
  settings:
    description:
      - Settings this drop-in sets, by name. Lists are joined with commas, booleans written C(on)/C(off).
      - Settings no longer listed here are no longer set by this drop-in.
    type: dict
    required: true
  conflicts:
    description:
      - What to do with other assignments of a managed setting.
      - V(supersede) comments them out (removes them from C(postgresql.auto.conf)); V(fail) stops with
        the file and line. Assignments in files outside the configuration directory always fail.
    type: str
    choices: [supersede, fail]
    default: supersede
  backup:
    description: Keep a timestamped copy of every file before changing it.
    type: bool
    default: true
  validate:
    description: Validate the planned configuration with C(postgres -C) before writing it.
    type: bool
    default: true
attributes:
  check_mode:
    description: Plans and validates, writes nothing, and reports what would change.
    support: full
  diff_mode:
    description: Shows every file that would change.
    support: full
notes:
  - O(cluster) needs C(id), C(data_directory) and C(config_file); C(bindir), C(server_user), C(layout), C(version)
    and C(name) are used when present.
  - Runs as root; validation runs the server binary as the server's OS user.
seealso:
  - module: pgsec.hardening.postgresql_access_apply
'''

EXAMPLES = r'''
- name: Gather the clusters
  pgsec.hardening.postgresql_access_facts:

- name: Listen only on the application network
  pgsec.hardening.postgresql_access_config:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    owner: listen
    settings:
      listen_addresses: [198.18.1.11]
  register: listen_config

- name: Reload or restart once, rolling back if the server does not come back
  pgsec.hardening.postgresql_access_apply:
    results: ["{{ listen_config }}"]
  when: listen_config is changed
'''

RETURN = r'''
cluster:
  description: The cluster identity used (C(id), C(layout), C(version), C(name), C(data_directory), C(config_file), C(bindir), C(server_user)).
  returned: always
  type: dict
settings:
  description: The settings the drop-in sets.
  returned: always
  type: dict
drop_in:
  description: Path of the managed drop-in file.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/pgsec.d/listen.conf
files:
  description: Files written, in order, with C(backup) (path or null), C(created) and C(directory).
  returned: always
  type: list
  elements: dict
superseded:
  description: Other assignments of managed settings that were commented out or removed (C(name), C(value), C(file), C(line), C(removed)).
  returned: always
  type: list
  elements: dict
changes:
  description:
    - Settings whose effective value changes, with C(before), C(after), C(context) and C(applies_by)
      (C(reload), C(restart), or C(start) for a stopped server).
    - Also lists settings already in the files but not yet used by the running server.
  returned: always
  type: list
  elements: dict
restart_required:
  description: A changed setting has context C(postmaster).
  returned: always
  type: bool
reload_required:
  description: A changed setting takes effect on reload.
  returned: always
  type: bool
running:
  description: Whether the server was running.
  returned: always
  type: bool
start_time:
  description: Postmaster start time (epoch seconds) read from C(postmaster.pid), null when stopped.
  returned: always
  type: int
'''

from ansible_collections.pgsec.hardening.plugins.module_utils.config_change import main


if __name__ == '__main__':
    main()
