"""The catalogue of bad inputs: each must fail before the first change, naming the variable and the value.

Pure data, read by tests/integration/test_faults.py (which runs every case on a lab host) and by
tests/tools/bad_input_catalogue.py (which renders docs/bad-input-catalogue.md). A value written
``<like this>`` is TLS material the test makes for the case (see MATERIAL).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# What each placeholder stands for; test_faults.material() makes them.
MATERIAL = {
    "<certificate>": "a valid certificate for the host, from the test CA",
    "<key>": "the certificate's key",
    "<ca>": "the test CA",
    "<key of another certificate>": "a valid key that does not belong to the certificate",
    "<expired certificate>": "a certificate from the test CA that expired yesterday",
    "<expired certificate's key>": "its key",
    "<certificate with an RSA 1024 key>": "a certificate from the test CA with a 1024-bit RSA key",
    "<RSA 1024 key>": "its key",
    "<another CA>": "a CA that did not sign the certificate",
    "<not PEM>": "text that is no PEM at all",
    "<certificate for other names>": "a certificate from the test CA for db.example.org only",
    "<key for other names>": "its key",
}

VALID_TLS = {"pgsec_tls_cert": "<certificate>", "pgsec_tls_key": "<key>", "pgsec_tls_ca": "<ca>"}


@dataclass(frozen=True)
class Case:
    id: str
    role: str
    variable: str  # the variable the error must name
    words: str  # the value as the error must show it
    why: str  # what is wrong, for the catalogue
    given: dict = field(default_factory=dict)  # the variables of the case, over the base policy
    tls: bool = False  # the case needs the TLS role enabled (valid material unless it replaces it)


def case(id, role, variable, value, words, why, tls=False, **also):
    given = dict(VALID_TLS) if tls else {}
    given.update(also)
    given[variable] = value
    return Case(id, role, variable, words, why, given, tls)


CATALOGUE = [
    # listen
    case("listen-not-on-host", "listen", "pgsec_listen_addresses", ["198.18.9.9"], "198.18.9.9",
         "an address the host does not have"),
    case("listen-wildcard", "listen", "pgsec_listen_addresses", ["*"], "*",
         "the wildcard without pgsec_listen_allow_wildcard"),
    case("listen-malformed", "listen", "pgsec_listen_addresses", ["300.1.2.3"], "300.1.2.3",
         "not an IP address"),
    case("listen-socket-only-with-clients", "listen", "pgsec_listen_addresses", "", "''",
         "socket-only together with TCP clients"),
    case("port-out-of-range", "listen", "pgsec_port", 70000, "70000", "above 65535"),
    case("port-zero", "listen", "pgsec_port", 0, "0", "port 0"),
    case("port-not-a-number", "listen", "pgsec_port", "fivefourthreetwo", "fivefourthreetwo",
         "wrong YAML type: a string for an int"),
    case("client-prefix-too-long", "listen", "pgsec_clients", [{"name": "app", "sources": ["198.18.1.0/33"]}],
         "198.18.1.0/33", "a v4 prefix longer than 32"),
    case("client-v6-prefix-too-long", "listen", "pgsec_clients", [{"name": "app", "sources": ["2001:db8::/129"]}],
         "2001:db8::/129", "a v6 prefix longer than 128"),
    case("client-not-an-address", "listen", "pgsec_clients", [{"name": "app", "sources": ["db-clients"]}],
         "db-clients", "a name where a network belongs"),
    case("client-no-route", "listen", "pgsec_clients", [{"name": "app", "sources": ["198.19.200.0/24"]}],
         "198.19.200.0/24", "a network the host has no route to"),
    case("clients-not-a-list", "listen", "pgsec_clients", "app", "app", "wrong YAML type: a string for a list"),
    case("client-sources-not-a-list", "listen", "pgsec_clients", [{"name": "app", "sources": 42}], "42",
         "wrong YAML type: a number for the sources"),
    case("unknown-cluster", "listen", "pgsec_clusters", ["99/nowhere"], "99/nowhere",
         "a cluster the host does not have"),
    case("unknown-profile", "access", "pgsec_profile", "strict", "strict", "not baseline or cis"),
    # the lockout guard
    case("guard-mode-unknown", "access", "pgsec_lockout_guard", "ask", "ask", "not refuse, warn or off"),
    case("guard-cut-not-a-list", "access", "pgsec_lockout_cut", "198.18.2.0/24", "198.18.2.0/24",
         "wrong YAML type: a string for a list"),
    case("guard-cut-bad-network", "access", "pgsec_lockout_cut", ["198.18.2.0/33"], "198.18.2.0/33",
         "a prefix longer than 32"),
    case("guard-md5-compat-type", "access", "pgsec_hba_md5_compat", "maybe", "maybe",
         "wrong YAML type: not a boolean"),
    case("guard-md5-compat-under-cis", "access", "pgsec_hba_md5_compat", True, "True",
         "md5 lines are not allowed by the cis profile", pgsec_profile="cis"),
    # sockets
    case("socket-mode-not-octal", "sockets", "pgsec_unix_socket_permissions", "0999", "0999", "not an octal mode"),
    case("socket-mode-too-wide", "sockets", "pgsec_unix_socket_permissions", "17777", "17777", "more than 0777"),
    case("socket-group-unknown", "sockets", "pgsec_unix_socket_group", "no-such-group", "no-such-group",
         "a group the host does not have"),
    case("socket-directory-relative", "sockets", "pgsec_socket_directories", [{"path": "relative/dir"}],
         "relative/dir", "a relative path"),
    case("socket-directory-shared", "sockets", "pgsec_socket_directories", [{"path": "/tmp"}], "/tmp",
         "a world-writable shared directory"),
    case("socket-directory-mode", "sockets", "pgsec_socket_directories", [{"path": "/run/pgsec-x", "mode": "12345"}],
         "12345", "not a mode"),
    case("socket-directory-group", "sockets", "pgsec_socket_directories",
         [{"path": "/run/pgsec-x", "group": "no-such-group"}], "no-such-group", "a group the host does not have"),
    case("socket-directories-not-a-list", "sockets", "pgsec_socket_directories", "/run/postgresql",
         "/run/postgresql", "wrong YAML type: a string for a list"),
    # tls
    case("tls-protocol-unknown", "tls", "pgsec_tls_min_protocol_version", "TLSv1.4", "TLSv1.4",
         "a protocol version that does not exist", tls=True),
    case("tls-protocol-too-old", "tls", "pgsec_tls_min_protocol_version", "TLSv1.1", "TLSv1.1",
         "below TLSv1.2", tls=True),
    case("tls-ciphers-rejected", "tls", "pgsec_tls_ciphers", "NO-SUCH-CIPHER:ALSO-NOT", "NO-SUCH-CIPHER",
         "a cipher string OpenSSL rejects", tls=True),
    case("tls-ciphers-weak", "tls", "pgsec_tls_ciphers", "RC4-SHA:DES-CBC3-SHA", "RC4",
         "weak ciphers", tls=True),
    case("tls-key-mismatch", "tls", "pgsec_tls_key", "<key of another certificate>", "does not match",
         "the key of another certificate", tls=True),
    case("tls-cert-expired", "tls", "pgsec_tls_cert", "<expired certificate>", "expired",
         "an expired certificate", tls=True, pgsec_tls_key="<expired certificate's key>"),
    case("tls-key-weak", "tls", "pgsec_tls_cert", "<certificate with an RSA 1024 key>", "1024",
         "a 1024-bit RSA key", tls=True, pgsec_tls_key="<RSA 1024 key>"),
    case("tls-ca-foreign", "tls", "pgsec_tls_ca", "<another CA>", "pgsec_tls_ca",
         "a CA that did not sign the certificate", tls=True),
    case("tls-cert-not-pem", "tls", "pgsec_tls_cert", "<not PEM>", "pgsec_tls_cert",
         "unreadable certificate text", tls=True),
    case("tls-cert-missing", "tls", "pgsec_tls_cert", "", "pgsec_tls_cert",
         "no certificate and no pgsec_tls_generate", tls=True, pgsec_tls_key=""),
    case("tls-names-not-covered", "tls", "pgsec_tls_cert", "<certificate for other names>", "db.example.org",
         "SANs that do not cover the host", tls=True, pgsec_tls_key="<key for other names>"),
    case("tls-warn-days-negative", "tls", "pgsec_tls_cert_warn_days", -1, "-1", "a negative warning window",
         tls=True),
    case("tls-clientcert-unknown", "tls", "pgsec_tls_clientcert", "sometimes", "sometimes",
         "not none, verify-ca or verify-full", tls=True),
    # firewall
    case("firewall-backend-unknown", "firewall", "pgsec_firewall_backend", "pf", "pf", "a backend that does not exist"),
    case("firewall-action-unknown", "firewall", "pgsec_firewall_action", "accept", "accept", "not drop or reject"),
    case("firewall-egress-host", "firewall", "pgsec_firewall_egress", [{"host": "999.1.2.3", "port": 5432}],
         "999.1.2.3", "not an address"),
    case("firewall-egress-port", "firewall", "pgsec_firewall_egress", [{"host": "198.18.1.100", "port": 70000}],
         "70000", "above 65535"),
    case("firewall-timeout-type", "firewall", "pgsec_firewall_rollback_timeout", "soon", "soon",
         "wrong YAML type: a string for an int"),
    case("firewall-log-type", "firewall", "pgsec_firewall_log", "perhaps", "perhaps",
         "wrong YAML type: not a boolean"),
]

# Needs the host in a state of its own, so it runs on its own (test_faults).
TWO_FIREWALLS = Case("firewall-two-backends", "firewall", "pgsec_firewall_backend", "firewalld",
                     "nftables asked for while firewalld runs (two firewalls would fight)",
                     {"pgsec_firewall_backend": "nftables"})
