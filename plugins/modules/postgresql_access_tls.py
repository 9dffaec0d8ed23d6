#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: postgresql_access_tls
short_description: Validate and place a PostgreSQL server's certificate, key, CA, CRL and DH parameters
version_added: 0.1.0
description:
  - Writes the given PEM material into a private staging directory and validates it there with
    C(openssl) before anything on the host changes. On any problem the task fails with every problem
    listed and the host untouched.
  - "Checks: the certificate parses and is within its validity period; the key reads (with
    O(key_passphrase) when encrypted) and matches the certificate; RSA keys have at least 2048 bits
    and EC keys at least 256; the subjectAltName covers every entry of O(names); the certificate
    chain verifies against O(ca) and, when O(crl) is given, is not revoked; the CRL parses and is
    signed by a certificate of O(ca)."
  - Warns when the certificate expires within O(warn_days) days and when the CRL is past its nextUpdate.
  - Places C(server.crt), C(server.key), C(ca.crt), C(crl.pem) and C(dhparams.pem) in O(directory), each
    written atomically with its owner, group and mode. Files whose content and ownership are already right
    are not rewritten. The key's passphrase is never placed there (see O(passphrase_store)).
  - Returns the C(ssl_*) settings that use these files, ready for M(pgsec.hardening.postgresql_access_config).
    It never changes the server configuration and never reloads the server itself.
  - Fails before any change when the cluster facts show a server built without SSL support (empty C(ssl_library)).
extends_documentation_fragment:
  - pgsec.hardening.cluster
options:
  directory:
    description:
      - Directory for the files. Created if missing; it is made C(0750) and owned by the server's OS user,
        so give a directory used for nothing else.
      - Defaults to C(pgsec-tls) next to the cluster's C(postgresql.conf); when that lies in the data directory
        (RHEL and source layouts), to C(/etc/pgsec/tls/NAME) instead, NAME made from the cluster id.
      - A directory inside the data directory is refused, as every base backup would carry the key.
    type: path
  cert:
    description:
      - The server certificate in PEM, optionally followed by intermediate CA certificates.
    type: str
    required: true
  key:
    description:
      - The certificate's private key in PEM, plain or encrypted.
      - Never returned or logged; error messages name the role variable C(pgsec_tls_key) instead.
    type: str
    required: true
  ca:
    description:
      - CA certificates in PEM (C(ssl_ca_file)); the server certificate must verify against them.
      - PostgreSQL uses them to verify client certificates.
    type: str
  crl:
    description:
      - A certificate revocation list in PEM (C(ssl_crl_file)), signed by a certificate of O(ca). Needs O(ca).
      - When it is issued by the server certificate's issuer, a revoked server certificate is an error.
      - Only the first CRL of the text is checked.
    type: str
  key_passphrase:
    description:
      - Passphrase of the key. The key is stored encrypted (with AES-256 when O(key) is plain) and the
        passphrase where O(passphrase_store) says; C(ssl_passphrase_command) reads it from there.
      - Reaches C(openssl) only through its environment, never its command line.
      - When not set, the passphrase files of earlier runs are removed (the systemd drop-in too).
    type: str
  passphrase_store:
    description:
      - Where the passphrase lives, so that no copy of the configuration, data or TLS directory holds it next
        to the key.
      - V(systemd-creds) encrypts it with C(systemd-creds) (host key, and a TPM2 where present) into
        C(/etc/credstore.encrypted/pgsec-tls-NAME.cred) and adds a drop-in
        C(/etc/systemd/system/UNIT.d/pgsec-tls-passphrase.conf) to the cluster's unit. systemd decrypts it at
        service start (C(LoadCredentialEncrypted=)) and copies it into C(/run/pgsec-tls/NAME/passphrase),
        readable by the server user only and removed when the service stops. A new credential takes a
        restart of the service, which the result asks for (RV(service_restart_required)).
      - V(file) keeps it in C(/etc/pgsec/passphrase/NAME), owned by root, mode C(0440), group of the server user.
      - V(auto) takes V(systemd-creds) when systemd runs the host, C(systemd-creds) exists and the server runs
        under a C(postgresql*) unit; otherwise V(file), with the reason in RV(passphrase_store) and a warning.
    type: str
    choices: [auto, systemd-creds, file]
    default: auto
  names:
    description:
      - DNS names and IP addresses that the certificate's subjectAltName must cover.
      - IP addresses are compared as addresses; a DNS name may be matched by a wildcard in the whole
        left-most label (C(*.example.com)). The common name is not looked at.
    type: list
    elements: str
    default: []
  warn_days:
    description: Warn when the certificate expires in fewer days than this.
    type: int
    default: 30
  dh_params:
    description:
      - Place C(dhparams.pem) and set C(ssl_dh_params_file).
      - The parameters are the RFC 7919 group C(ffdhe3072) (C(openssl genpkey -genparam), instant). Where that
        fails (OpenSSL before 1.1.1) they are generated with C(openssl dhparam 2048), which can take minutes.
      - An existing C(dhparams.pem) that C(openssl dhparam) reads is never regenerated.
    type: bool
    default: true
  key_owner:
    description:
      - V(server) makes the key C(0600) owned by the server's OS user; V(root) makes it C(0640) owned by
        root and the server user's group, so that the server can read but not change it.
    type: str
    choices: [server, root]
    default: server
  renew_hook:
    description:
      - Install C(/usr/local/sbin/pgsec-tls-renew) and this cluster's C(/etc/pgsec/tls-renew/NAME.json), the hook
        a certificate renewer on the host calls (certbot C(--deploy-hook), certmonger C(-C), a Vault agent
        template's C(command)) with C(--cluster ID --cert FILE --key FILE).
      - The hook checks the new pair as this module does, encrypts the key with the stored passphrase, puts the
        pair in place, reloads the server and reads back the certificate it serves. A pair that fails a check,
        or that the server does not take, leaves the old pair served; the hook then exits with status 1 and says why.
      - A pair renewed on the host that passes every check and outlives O(cert) is kept by later runs, with a warning.
      - V(false) removes this cluster's hook configuration.
    type: bool
    default: true
  backup:
    description:
      - Keep a timestamped copy of every file before replacing it.
      - Off by default, as copies of old private keys would otherwise accumulate.
    type: bool
    default: false
attributes:
  check_mode:
    description: Validates in a temporary directory, writes nothing in O(directory), and reports what would change.
    support: full
  diff_mode:
    description:
      - Shows each changed file's path and ownership; for certificates and CRLs the subject, issuer, dates and
        fingerprint before and after. Key and passphrase contents are never shown.
    support: full
notes:
  - O(cluster) uses C(id), C(config_file) (for the default O(directory)), C(server_user) and
    C(settings.ssl_library).
  - Runs as root. Needs C(openssl) on the host and only Python's standard library.
  - Files no longer needed (C(ca.crt), C(crl.pem), C(dhparams.pem)) are left in place; the returned
    settings stop pointing at them.
seealso:
  - module: pgsec.hardening.postgresql_access_config
  - module: pgsec.hardening.postgresql_access_apply
  - name: PostgreSQL SSL settings
    description: The settings this module returns.
    link: https://www.postgresql.org/docs/current/runtime-config-connection.html#RUNTIME-CONFIG-CONNECTION-SSL
'''

EXAMPLES = r'''
- name: Gather the clusters
  pgsec.hardening.postgresql_access_facts:

- name: Place the server's TLS material
  pgsec.hardening.postgresql_access_tls:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    cert: "{{ lookup('file', 'pki/pg1.crt') }}"
    key: "{{ lookup('file', 'pki/pg1.key') }}"
    ca: "{{ lookup('file', 'pki/ca.crt') }}"
    names: [pg1.example.com, 198.18.1.11]
  register: tls

- name: Turn TLS on with these files
  pgsec.hardening.postgresql_access_config:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    owner: tls
    settings: "{{ tls.settings }}"
  register: tls_config

- name: Reload once the settings or the files changed
  pgsec.hardening.postgresql_access_apply:
    results: ["{{ tls_config }}"]
  when: tls_config is changed or tls is changed

- name: Keep the key encrypted on disk
  pgsec.hardening.postgresql_access_tls:
    cluster: "{{ ansible_facts.pgsec.clusters[0] }}"
    cert: "{{ pgsec_tls_cert }}"
    key: "{{ pgsec_tls_key }}"
    key_passphrase: "{{ pgsec_tls_key_passphrase }}"
    key_owner: root
'''

RETURN = r'''
cluster:
  description: The cluster's identity, for M(pgsec.hardening.postgresql_access_apply).
  returned: always
  type: dict
reload_required:
  description: Whether files changed that the server reads only on reload (a rotated certificate).
  returned: always
  type: bool
directory:
  description: The directory holding the files.
  returned: always
  type: str
  sample: /etc/postgresql/15/main/pgsec-tls
files:
  description:
    - Per file (C(cert), C(key), C(ca), C(crl), C(dh_params); C(passphrase_file), or C(credential) and
      C(dropin), for the passphrase store; C(passphrase) for the file older releases kept next to the key)
      its C(path), C(state) (C(present), or C(absent) for a removed file), C(mode), C(owner), C(group),
      C(changed) and C(backup) (path of the copy made, or null).
  returned: always
  type: dict
  sample:
    cert: {path: /etc/postgresql/15/main/pgsec-tls/server.crt, state: present, mode: '0644', owner: postgres,
           group: postgres, changed: true, backup: null}
settings:
  description:
    - The settings to give M(pgsec.hardening.postgresql_access_config); C(ssl_ca_file), C(ssl_crl_file),
      C(ssl_dh_params_file) and the passphrase settings only when those files are placed.
  returned: always
  type: dict
  sample:
    ssl: 'on'
    ssl_cert_file: /etc/postgresql/15/main/pgsec-tls/server.crt
    ssl_key_file: /etc/postgresql/15/main/pgsec-tls/server.key
    ssl_ca_file: /etc/postgresql/15/main/pgsec-tls/ca.crt
    ssl_dh_params_file: /etc/postgresql/15/main/pgsec-tls/dhparams.pem
passphrase_store:
  description:
    - Where the passphrase is kept, when there is one; C(kind) (C(systemd-creds) or C(file)), C(path), C(unit)
      and C(reason) (why V(auto) chose C(file)).
  returned: always
  type: dict
  sample: {kind: systemd-creds, path: /etc/credstore.encrypted/pgsec-tls-15-main.cred,
           unit: postgresql@15-main.service, reason: null}
service_restart_required:
  description:
    - Whether the passphrase credential or the unit drop-in changed, which the service reads only when it
      starts; M(pgsec.hardening.postgresql_access_apply) restarts the server once for it.
  returned: always
  type: bool
certificate:
  description:
    - The server certificate, C(subject), C(sans), C(issuer), C(not_after), C(days_left), C(key_type),
      C(key_bits) and C(sha256_fingerprint). Also returned when validation fails, if the certificate parsed.
  returned: always
  type: dict
  sample:
    subject: CN=pg1.example.com
    sans: ['DNS:pg1.example.com', 'IP:198.18.1.11']
    issuer: CN=Example CA
    not_after: '2027-03-01T12:00:00+00:00'
    days_left: 364
    key_type: EC
    key_bits: 256
    sha256_fingerprint: 'AB:CD:...'
errors:
  description: Every problem found, when the material is refused.
  returned: failure
  type: list
  elements: str
'''

from ansible_collections.pgsec.hardening.plugins.module_utils.tls.apply import main


if __name__ == '__main__':
    main()
