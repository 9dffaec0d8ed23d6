#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_hba
short_description: Own the TCP lines of pg_hba.conf in one managed block
version_added: 0.1.0
description:
  - Keeps one managed block before the first rule of the cluster's C(pg_hba.conf), between the lines
    C(# BEGIN pgsec.hardening managed block) and C(# END pgsec.hardening managed block). The block
    rejects TCP connections without TLS (O(require_ssl)), admits each source of each client with a
    C(hostssl) line, keeps the loopback lines of the file (O(keep_loopback)) and ends with lines that
    reject every other TCP connection, including those allowed by included files or lines added later.
  - Every other TCP line (C(host), C(hostssl), C(hostnossl), C(hostgssenc), C(hostnogssenc)) is commented out
    with the note C(# superseded by pgsec.hardening (tls):); loopback lines are copied into the block first.
    C(local) lines are left alone unless O(local_peer). A block edited by hand is rewritten.
  - Files included with C(include), C(include_if_exists) or C(include_dir) (PostgreSQL 16 and later, nested ones too)
    are handled like the main file. Their TCP lines are commented out (loopback ones copied into the block) and,
    with O(local_peer), their C(local) lines made C(peer); the include directives stay. Files named with C(@file)
    hold names, not lines, and are not changed.
  - For the C(cis) profile, O(final_reject=sources) rejects per client network instead of for C(0.0.0.0/0) and C(::/0)
    (connections from elsewhere match no line and PostgreSQL refuses them), O(reject_superusers) rejects the
    superusers over TCP before the client lines, and O(local_peer) makes every C(local) line C(peer).
  - When the server runs, the new file is checked with C(pg_hba_file_rules) and the server reloaded; when
    PostgreSQL reports an error the previous file is put back and the task fails with PostgreSQL's words.
  - The file is written atomically and keeps its owner, group and mode.
extends_documentation_fragment:
  - pgsec.hardening.cluster
options:
  clients:
    description:
      - The TCP clients. Each source of each client gets one line, in order, after a C(# client NAME) comment.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name shown in the comment above the client's lines; C(clientN) when not given.
        type: str
      sources:
        description: Networks or addresses in CIDR notation; a single address becomes C(/32) or C(/128). Empty for a client without TCP.
        type: list
        elements: str
        default: []
      databases:
        description: Database names or pg_hba keywords; no whitespace, quotes, commas, C(#) or backslashes.
        type: list
        elements: str
        default: [all]
      users:
        description: User names, C(+group) or pg_hba keywords; no whitespace, quotes, commas, C(#) or backslashes.
        type: list
        elements: str
        default: [all]
      method:
        description: Authentication method of this client's lines; O(method) when not given.
        type: str
        choices: [scram-sha-256, md5, password, cert, reject]
        aliases: [auth_method]
      clientcert:
        description:
          - C(clientcert) for this client; the stricter of this and O(clientcert) applies.
        type: str
        choices: [none, verify-ca, verify-full]
  require_ssl:
    description:
      - Reject every TCP connection without TLS (C(hostnossl ... reject) first) and write C(hostssl) lines.
      - When false, client lines and the final rejects are C(host) lines.
    type: bool
    default: true
  clientcert:
    description:
      - C(clientcert) option of the client lines. Not written on C(cert) lines (which always verify the
        full certificate) and C(reject) lines. Needs O(require_ssl).
    type: str
    choices: [none, verify-ca, verify-full]
    default: none
  method:
    description:
      - Authentication method of the client lines unless a client names its own. C(trust) is refused;
        C(cert) needs O(require_ssl).
    type: str
    choices: [scram-sha-256, md5, password, cert, reject]
    default: scram-sha-256
  keep_loopback:
    description:
      - Keep the TCP lines of the file whose address lies in 127.0.0.0/8 or is ::1, moved into the
        block before its final rejects (in their order); where they were they are commented out.
      - When false they are commented out like the other TCP lines, and loopback lines kept in the block
        by an earlier run are dropped.
    type: bool
    default: true
  keep_other_tcp:
    description:
      - Leave the other TCP lines of the file active and write no final rejects; the block then only comes first.
    type: bool
    default: false
  final_reject:
    description:
      - V(all) ends the block with rejects for C(0.0.0.0/0) and C(::/0) (and starts it with C(hostnossl) rejects for them).
      - V(sources) writes those rejects for each client source instead, so that no line covers every address
        (CIS PostgreSQL 5.9 as auditors read it); a connection from any other address matches no line, and
        PostgreSQL refuses it. Lines added below the block later are then not shadowed by it.
    type: str
    choices: [all, sources]
    default: all
  reject_superusers:
    description:
      - Before the client lines, reject over TCP, from every client source, the superusers C(postgres), the server's
        OS user and, when the server runs, every role with C(rolsuper) (CIS PostgreSQL 5.11).
      - A client whose C(users) (in O(clients)) names one of them fails the task before anything is written.
    type: bool
    default: false
  local_peer:
    description:
      - Make every accepting C(local) line C(peer) (CIS PostgreSQL 5.3) where it is, so the order of the lines stays as
        it was. The line is commented out with the note and followed by the same line with C(peer) (an C(ident) map
        is kept). C(peer) and C(reject) lines, and lines in included files, are left alone.
      - Local clients then log in as the OS user of the same name; a password over the socket no longer works.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
attributes:
  check_mode:
    description: Plans and reports what would change; writes nothing and does not reload.
    support: full
  diff_mode:
    description: Shows the file before and after.
    support: full
notes:
  - O(cluster) needs C(data_directory) and the hba file (C(hba.file) of the facts, or C(hba_file)); C(id),
    C(bindir), C(server_user) and C(version) are used when present.
  - Runs as root (or the owner of the file); the check and the reload run C(psql) over the server's Unix socket
    as the server's OS user.
  - A hostname, C(samehost) or C(samenet) address is not loopback; such lines are commented out.
  - Needs SSL enabled on the server with O(require_ssl); otherwise PostgreSQL refuses C(hostssl) lines,
    and the file is restored.
seealso:
  - module: pgsec.hardening.postgresql_access_config
'''

EXAMPLES = r'''
- name: Gather the clusters
  pgsec.hardening.postgresql_access_facts:

- name: Let the application in over TLS only, reject every other TCP connection
  pgsec.hardening.postgresql_access_hba:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    clients:
      - name: app
        sources: [198.18.1.0/24, 2001:db8:1::/64]
        databases: [appdb]
        users: [app]
      - name: backup
        sources: [198.18.2.7]
        databases: [replication]
        users: [barman]
        method: cert
    clientcert: verify-full
'''

RETURN = r'''
hba_file:
  description: The pg_hba.conf planned and written.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/pg_hba.conf
managed:
  description: The rule lines of the managed block, in order.
  returned: always
  type: list
  elements: str
  sample:
    - "hostnossl all             all             0.0.0.0/0               reject"
    - "hostssl   appdb           app             198.18.1.0/24           scram-sha-256 clientcert=verify-full"
    - "hostssl   all             all             0.0.0.0/0               reject"
superseded:
  description:
    - Lines commented out, with C(line) (in the file before the change), C(text) and C(moved)
      (a loopback line copied into the block); a C(local) line replaced with O(local_peer) has C(replaced_by).
  returned: always
  type: list
  elements: dict
  sample:
    - line: 8
      text: "host    all             all             0.0.0.0/0               md5"
      moved: false
included_files:
  description: Each file the hba file includes, with C(file), whether it C(changed) and its C(superseded) lines.
  returned: always
  type: list
  elements: dict
reloaded:
  description: The server was running, accepted the new files and was reloaded.
  returned: always
  type: bool
backup_file:
  description: Path of the backup, null without O(backup) or without a change.
  returned: always
  type: str
hba_errors:
  description: What C(pg_hba_file_rules) reported for the new file (C(file_name), C(line_number), C(error), ...).
  returned: failure
  type: list
  elements: dict
'''

from ansible_collections.pgsec.hardening.plugins.module_utils.hba.apply import main


if __name__ == '__main__':
    main()
