"""The audit playbook: finds what the insecure profile planted, changes nothing, reports for people and AWX."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labhosts import run

# Files and rulesets whose checksums must not move during an audit or a --check run.
WATCHED = ("sha256sum /etc/postgresql/*/*/postgresql.conf /etc/postgresql/*/*/pg_hba.conf "
           "/var/lib/postgresql/*/*/postgresql.auto.conf 2>/dev/null; "
           "sha256sum /var/lib/pgsql/18/data/postgresql*.conf /var/lib/pgsql/18/data/pg_hba.conf 2>/dev/null; "
           "nft list ruleset | sha256sum; iptables-save | grep -v '^#' | sha256sum; "
           "stat -c '%n %a %U %G' /var/run/postgresql/.s.PGSQL.* 2>/dev/null; "
           "runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c 'select pg_postmaster_start_time()' 2>/dev/null; true")
AUDITED = ["pg1", "pg2", "pg3", "pg5"]


def host_state(lab_hosts) -> dict[str, str]:
    return {name: lab_hosts.hosts[name].ssh(f"cd / && {WATCHED}").stdout for name in AUDITED}


@pytest.fixture(scope="module")
def audit(lab_hosts, tmp_path_factory):
    """One audit of the lab with the insecure profile's hosts among them."""
    report_dir = tmp_path_factory.mktemp("report")
    before = host_state(lab_hosts)
    proc = run(["ansible-playbook", "-i", str(lab_hosts.inventory), "pgsec.hardening.audit",
                "-e", f"pgsec_audit_report_dir={report_dir}", "-e", "pgsec_target_hosts=" + ",".join(AUDITED)],
               env=dict(os.environ, ANSIBLE_SHOW_CUSTOM_STATS="true"))
    after = host_state(lab_hosts)
    report = json.loads((report_dir / "pgsec-access-report.json").read_text())
    return {"dir": report_dir, "report": report, "before": before, "after": after, "output": proc.stdout}


def findings(report: dict, host: str, status: str | None = None) -> list[dict]:
    items = report["hosts"][host]
    return [f for f in items if status is None or f["status"] == status]


def failed_ids(report: dict, host: str) -> set[str]:
    return {f["id"] for f in findings(report, host, "fail")}


def test_audit_reports_every_item_the_insecure_profile_planted(audit):
    for host in ("pg1", "pg5"):  # Debian 12 / PostgreSQL 15 and Debian 13 / PostgreSQL 17
        failed = failed_ids(audit["report"], host)
        for control in ("listen.not_wildcard", "socket.permissions", "tls.enabled",
                        "hba.no_all_addresses", "firewall.active"):
            assert control in failed, (host, control, sorted(failed))


def test_audit_findings_name_their_references_and_manual_controls(audit):
    pg1 = findings(audit["report"], "pg1")
    listen = [f for f in pg1 if f["id"] == "listen.not_wildcard"][0]
    assert "5.2" in listen["reference"] and listen["cluster"] == "15/main"
    assert {"expected", "actual", "severity", "subject"} <= set(listen)
    manual = [f for f in pg1 if f["status"] == "manual"]
    assert {"manual.physical_access", "manual.provider_attestation", "manual.network_segregation"} <= \
        {f["id"] for f in manual}


def test_pg18_without_openssl_is_reported_not_broken(audit):
    pg3 = findings(audit["report"], "pg3")
    tls = [f for f in pg3 if f["id"] == "tls.enabled" and f["cluster"] == "/var/lib/pgsql/18/data"][0]
    assert tls["status"] == "fail"
    assert "OpenSSL" in tls["actual"] or "without" in tls["actual"]


def test_audit_changes_nothing_on_any_host(audit):
    assert audit["after"] == audit["before"]


def test_check_mode_harden_changes_nothing(lab_hosts):
    before = host_state(lab_hosts)
    # TLS needs certificates (and pg3's PostgreSQL 18 has no SSL): its check runs in test_harden_tls.
    lab_hosts.playbook("pgsec.hardening.harden", "--check", "--diff", "-e",
                       "pgsec_target_hosts=" + ",".join(AUDITED), "-e", '{"pgsec_tls_enabled": false, "pgsec_firewall_backend": "none"}')
    assert host_state(lab_hosts) == before


def test_reports_for_people_and_machines(audit):
    markdown = (audit["dir"] / "pgsec-access-report.md").read_text()
    html = (audit["dir"] / "pgsec-access-report.html").read_text()
    for host in AUDITED:
        assert host in markdown and host in html
    assert "listen.not_wildcard" in markdown
    assert "<script src" not in html and "<link " not in html, "the HTML page must be self-contained"
    assert "BEGIN" not in markdown + html


def test_set_stats_carry_the_summary_for_awx(audit):
    custom = audit["output"].split("CUSTOM STATS", 1)
    assert len(custom) == 2, "set_stats data must be shown with ANSIBLE_SHOW_CUSTOM_STATS"
    assert "pgsec_audit" in custom[1]
    assert set(AUDITED) <= set(audit["report"]["summary"]["hosts"])


def test_fail_on_severity_fails_the_run(lab_hosts, tmp_path):
    proc = lab_hosts.playbook("pgsec.hardening.audit", "-e", f"pgsec_audit_report_dir={tmp_path}",
                              "-e", "pgsec_target_hosts=pg1", "-e", "pgsec_audit_fail_on=high", check=False)
    assert proc.returncode != 0
    assert "Drift at or above 'high'" in proc.stdout


def test_html_report_renders_in_headless_chromium(audit, tmp_path):
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.fail("chromium is not installed; make deps installs it")
    shot = tmp_path / "report.png"
    run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
         f"--screenshot={shot}", f"file://{audit['dir'] / 'pgsec-access-report.html'}"], timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, "a blank page compresses to almost nothing"
    keep = os.environ.get("PGSEC_KEEP_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(data)
