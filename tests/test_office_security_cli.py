"""madoguchi-office security … and enrol …: the office's CA, broker files, identities, revocation,
one-time tokens and the enrolment endpoint, driven through the command line on real files; the
endpoint runs as its own process and a device enrols against it over TLS.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from firmware_profiles.enroll import EnrolError, enroll
from lobby.brokers import free_port
from office.broker_security import SecurityHome, load_settings
from office.cli import main

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SITE = REPO / "office" / "default_site.toml"
PROFILE = "sha256:" + "ef" * 32
ME = pwd.getpwuid(os.geteuid()).pw_name


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "security"
    code, _out, err = run(
        capsys,
        "security",
        "init",
        "--home",
        str(path),
        "--host",
        "localhost",
        "--host",
        "192.0.2.10",
        "--port",
        "18883",
        "--user",
        ME,
    )
    assert code == 0, err
    return path


def token_from(out: str) -> str:
    found = re.findall(r"^(mdg1-[a-z2-7]+-[a-z2-7]+)$", out, flags=re.MULTILINE)
    assert len(found) == 1, out
    return found[0]


def acl(home: Path) -> str:
    return (home / "broker" / "acl").read_text()


# --------------------------------------------------------------------------------------------
# security init
# --------------------------------------------------------------------------------------------


def test_init_makes_the_ca_the_office_identity_and_the_broker_files(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sec = SecurityHome(home)
    for path in (
        sec.ca_dir / "ca.pem",
        sec.ca_dir / "ca.key",
        sec.identity_dir("office") / "client.key",
        sec.broker_dir / "mosquitto.conf",
        sec.broker_dir / "server.pem",
        sec.broker_dir / "acl",
    ):
        assert path.exists(), path
    assert (sec.ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    settings = load_settings(sec)
    assert (settings.site, settings.hosts, settings.port, settings.run_as_user) == (
        "demo-town",
        ("localhost", "192.0.2.10"),
        18883,
        ME,
    )
    env = (home / "office.env").read_text()
    assert f'MADOGUCHI_BROKER="mqtts://127.0.0.1:18883/?ca={home}/identities/office/ca.pem' in env
    conf = (sec.broker_dir / "mosquitto.conf").read_text()
    assert "listener 18883" in conf and f"user {ME}" in conf
    # Again with another host only: the CA stays, the saved port and user stay, the certificate renews.
    ca_before = (sec.ca_dir / "ca.pem").read_bytes()
    code, out, _ = run(capsys, "security", "init", "--home", str(home), "--host", "office.local")
    assert code == 0 and "office CA (kept)" in out
    assert (sec.ca_dir / "ca.pem").read_bytes() == ca_before
    assert load_settings(sec).hosts == ("office.local",) and load_settings(sec).port == 18883
    cert = x509.load_pem_x509_certificate((sec.broker_dir / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "office.local" in names.get_values_for_type(x509.DNSName)
    # Without --host, the saved hosts are reused; a new home needs them.
    assert run(capsys, "security", "init", "--home", str(home))[0] == 0
    code, _, err = run(capsys, "security", "init", "--home", str(tmp_path / "fresh"))
    assert code == 2 and "--host is required" in err


def test_init_refuses_a_home_of_another_site(home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    site = tmp_path / "other.toml"
    site.write_text(DEFAULT_SITE.read_text(encoding="utf-8").replace('site = "demo-town"', 'site = "other-town"'))
    code, _, err = run(capsys, "security", "init", "--home", str(home), "--config", str(site), "--host", "x")
    assert code == 2 and "belongs to site 'demo-town', not 'other-town'" in err


# --------------------------------------------------------------------------------------------
# enrol token and enrol serve
# --------------------------------------------------------------------------------------------


def test_token_printed_then_used_once_against_the_running_endpoint(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "office.sqlite3"
    code, out, _ = run(
        capsys, "enrol", "token", "disp-1", "--role", "dispenser", "--home", str(home), "--db", str(db), "--hours", "2"
    )
    assert code == 0
    token = token_from(out)
    assert "enrolment token for disp-1 (dispenser), works once, valid until" in out
    assert f"madoguchi-provision enroll --office https://localhost:8443 --token {token}" in out
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "office.cli",
            "enrol",
            "serve",
            "--home",
            str(home),
            "--db",
            str(db),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert f"enrolment endpoint on https://127.0.0.1:{port} for site demo-town" in first, first
        assert "devices are told the broker mqtts://localhost:18883" in first
        identity = enroll(f"https://localhost:{port}", token, "disp-1", PROFILE, tmp_path / "device")
        assert identity.broker == "mqtts://localhost:18883" and identity.role == "dispenser"
        line = server.stdout.readline()
        assert "enrolled disp-1 (dispenser); ACL rewritten" in line
        assert "user disp-1" in acl(home)
        with pytest.raises(EnrolError, match="already used"):
            enroll(f"https://localhost:{port}", token, "disp-1", PROFILE, tmp_path / "device2")
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT profile_hash FROM enrolled_devices WHERE device_id='disp-1'").fetchone() == (
            PROFILE,
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["enrol", "token", "disp-1", "--role", "office"], "role 'office' cannot enrol"),
        (["enrol", "token", "office", "--role", "dispenser"], "reserved for the office server"),
        (["enrol", "token", "bad id", "--role", "dispenser"], "device id 'bad id' is invalid"),
        (["enrol", "token", "disp-1", "--role", "dispenser", "--hours", "0"], "token validity 0 h is invalid"),
        (["security", "revoke", "nobody"], "no certificate was ever issued to 'nobody'"),
        (["security", "identity", "term-1", "--role", "office"], "invalid choice"),
        (["security", "revoke", "disp-1", "--reason", "bored"], "invalid choice"),
    ],
)
def test_mistakes_are_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(
        capsys,
        *argv,
        "--home",
        str(home),
        *(["--db", str(tmp_path / "o.db")] if argv[1] in ("token", "revoke") else []),
    )
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_commands_on_a_home_without_a_ca_say_to_run_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["enrol", "token", "disp-1", "--role", "dispenser"],
        ["security", "revoke", "disp-1"],
        ["security", "identity", "t", "--role", "staff"],
        ["enrol", "serve"],
    ):
        code, _, err = run(capsys, *argv, "--home", str(tmp_path / "none"))
        assert code == 2 and "run madoguchi-office security init" in err


# --------------------------------------------------------------------------------------------
# identities and revocation
# --------------------------------------------------------------------------------------------


def test_identity_then_revoke(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "security", "identity", "term-1", "--role", "staff", "--home", str(home))
    assert code == 0
    directory = home / "identities" / "term-1"
    assert (directory / "client.key").stat().st_mode & 0o777 == 0o600
    assert f"mqtts://localhost:18883/?ca={directory}/ca.pem" in out
    assert "user term-1" in acl(home) and "Mosquitto is not running" in out
    db = tmp_path / "office.sqlite3"
    code, out, _ = run(capsys, "enrol", "token", "disp-1", "--role", "dispenser", "--home", str(home), "--db", str(db))
    token = token_from(out)
    code, out, _ = run(
        capsys, "security", "revoke", "term-1", "--reason", "retired", "--home", str(home), "--db", str(db)
    )
    assert code == 0 and "revoked term-1 (retired)" in out
    assert "user term-1" not in acl(home)
    crl = x509.load_pem_x509_crl((home / "broker" / "crl.pem").read_bytes())
    assert len(list(crl)) == 1
    # Revoking a device withdraws its outstanding token too (nothing was issued to it yet: refused).
    code, _, err = run(capsys, "security", "revoke", "disp-1", "--home", str(home), "--db", str(db))
    assert code == 2 and "no certificate was ever issued to 'disp-1'" in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT withdrawn_ms FROM enrol_tokens").fetchone() == (None,)
    assert token


def test_revoking_an_enrolled_device_marks_the_inventory(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from office.enrol_http import EnrolServer
    from office.enrolment import EnrolmentRegistry
    from office.pki import OfficeCA

    db = tmp_path / "office.sqlite3"
    _code, out, _ = run(capsys, "enrol", "token", "disp-1", "--role", "dispenser", "--home", str(home), "--db", str(db))
    sec = SecurityHome(home)
    registry = EnrolmentRegistry.open(db, OfficeCA.load(sec.ca_dir), "demo-town")
    with EnrolServer(
        registry,
        certfile=sec.broker_dir / "server.pem",
        keyfile=sec.broker_dir / "server.key",
        host="127.0.0.1",
        port=0,
    ) as server:
        enroll(server.url("localhost"), token_from(out), "disp-1", PROFILE, tmp_path / "device")
    registry.close()
    code, out, _ = run(
        capsys, "security", "revoke", "disp-1", "--reason", "key_compromise", "--home", str(home), "--db", str(db)
    )
    assert code == 0 and "revoked disp-1 (key_compromise)" in out
    with sqlite3.connect(db) as conn:
        (revoked_ms,) = conn.execute("SELECT revoked_ms FROM enrolled_devices WHERE device_id='disp-1'").fetchone()
    assert revoked_ms is not None and abs(revoked_ms - time.time() * 1000) < 60_000


def test_existing_subcommands_are_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = DEFAULT_SITE
    code, out, _ = run(capsys, "check-config", str(site))
    assert code == 0 and out.strip() == f"{site}: ok"
    code, _, err = run(capsys, "status", "--db", str(tmp_path / "none.sqlite3"))
    assert code == 2 and "no office store there" in err


def test_office_key_prints_the_key_the_office_signs_with_and_names_a_damaged_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from office.identity import office_public_key, signing_key_path
    from sync import signing

    db = tmp_path / "office.sqlite3"
    code, out, _err = run(capsys, "security", "office-key", "--db", str(db))
    assert code == 0
    key = out.strip()
    # The same key the server loads from beside its store, and again on the next call.
    assert key == office_public_key(db)  # the key the server loads from beside its store
    assert run(capsys, "security", "office-key", "--db", str(db))[1].strip() == key
    signing.parse_public_key(key)
    signing_key_path(db).write_text("not a key\n")
    code, out, err = run(capsys, "security", "office-key", "--db", str(db))
    assert code == 2 and out == "" and "restore it from the backup" in err and len(err.strip().splitlines()) == 1
