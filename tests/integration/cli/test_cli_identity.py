"""``consortium identity issue``, ``identity revoke`` and ``identity server-cert`` as an operator runs them: real
subprocesses.

The org identities are created once for the module (in process, with ``create_org_identity``: these tests are
about the two commands); every command passes ``--dir DIR`` and takes its passphrase from
``$CONSORTIUM_PASSPHRASE`` or ``--passphrase-file``. Independent refusals run concurrently to keep the module
quick. A refusal is exit 1 and exactly one line ``error: ...`` on stderr; a malformed command line is click's
usage error, exit 2.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.ids import OrgId, Role
from network.identity import OrgPaths, create_org_identity, issue_identity, load_crl, user_paths
from tests.support.member_directory import write_description

PASSPHRASE = "cli-identity-passphrase"
COMMAND_TIMEOUT = 60.0

_SCRIPT = Path(sys.executable).with_name("consortium")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "cli.main"]

ISSUED = re.compile(
    r"issued (?P<who>\S+): serial (?P<serial>0x[0-9a-f]+), valid until (?P<until>\S+Z)\n"
    r"  certificate  (?P<cert>.+)\n"
    r"  key          (?P<key>.+)\n"
    r"  CA           (?P<ca>.+)\n"
)


def cli_env(passphrase: str | None = PASSPHRASE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
    env["PYTHONUNBUFFERED"] = "1"
    if passphrase is not None:
        env["CONSORTIUM_PASSPHRASE"] = passphrase
    return env


def run_cli(directory: Path, *args: str, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--dir", str(directory), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(passphrase),
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def shown(r: subprocess.CompletedProcess[str]) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def assert_ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, shown(r)
    assert r.stderr == "", shown(r)
    return r.stdout


def assert_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown(r)
    for fragment in fragments:
        assert fragment in lines[0], shown(r)
    assert r.stdout == "", shown(r)


def assert_usage_error(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 2, shown(r)
    assert r.stderr.startswith("Usage: ") and "Traceback" not in r.stderr, shown(r)
    for fragment in fragments:
        assert fragment in r.stderr, shown(r)


def tree(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-identity")
    for org, name in [("acme", "ACME Securities"), ("globex", "Globex Capital")]:
        create_org_identity(d, OrgId(org), name, PASSPHRASE.encode())
    return d


def test_issue_prints_the_paths_of_a_new_identity(directory: Path) -> None:
    out = assert_ok(run_cli(directory, "identity", "issue", "--org", "acme", "--name", "alice", "--days", "30"))
    match = ISSUED.fullmatch(out)
    assert match, out
    paths = user_paths(directory, OrgId("acme"), "alice")
    assert match["who"] == "alice@acme"
    assert (Path(match["cert"]), Path(match["key"]), Path(match["ca"])) == (paths.cert, paths.key, paths.ca_cert)
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    assert match["serial"] == hex(cert.serial_number)
    assert match["until"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=30)
    assert cert.subject.rfc4514_string() == "CN=alice@acme,OU=acme,O=ACME Securities"
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(paths.key.read_bytes(), PASSPHRASE.encode())
    assert key.public_key() == cert.public_key()
    assert paths.ca_cert.read_bytes() == OrgPaths.of(directory, OrgId("acme")).ca_cert.read_bytes()


def test_issue_with_a_passphrase_file(directory: Path, tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    args = ["--passphrase-file", str(file), "identity", "issue", "--org", "globex", "--name", "gina"]
    r = run_cli(directory, *args, passphrase=None)
    assert ISSUED.fullmatch(assert_ok(r)), shown(r)
    cert = x509.load_pem_x509_certificate(user_paths(directory, OrgId("globex"), "gina").cert.read_bytes())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365)  # the default


def test_issue_refusals(directory: Path) -> None:
    issue_identity(directory, OrgId("acme"), "bob", PASSPHRASE.encode())
    before = tree(directory)
    nope = "n0pe-n0pe"
    cases: dict[str, tuple[tuple[str, ...], str | None]] = {
        "exists": (("--org", "acme", "--name", "bob"), PASSPHRASE),
        "admin": (("--org", "acme", "--name", "Admin"), PASSPHRASE),
        "unknown org": (("--org", "initech", "--name", "x"), PASSPHRASE),
        "wrong passphrase": (("--org", "acme", "--name", "carl"), nope),
        "no passphrase": (("--org", "acme", "--name", "carl"), None),
        "bad name": (("--org", "acme", "--name", "../evil"), PASSPHRASE),
        "bad days": (("--org", "acme", "--name", "carl", "--days", "0"), PASSPHRASE),
        "bad org": (("--org", "ACME!", "--name", "carl"), PASSPHRASE),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(run_cli, directory, "identity", "issue", *args, passphrase=passphrase)
            for name, (args, passphrase) in cases.items()
        }
        r = {name: future.result() for name, future in futures.items()}
    assert_error(r["exists"], "identity bob@acme already exists", "refusing to overwrite")
    assert_error(r["admin"], "identity Admin@acme already exists")
    assert_error(r["unknown org"], "no identity for org 'initech'", "consortium identity create")
    assert_error(r["wrong passphrase"], "cannot decrypt", "ca-key.pem")
    assert nope not in r["wrong passphrase"].stderr
    assert_error(r["no passphrase"], "no passphrase", "CONSORTIUM_PASSPHRASE")
    assert_usage_error(r["bad name"], "--name", "invalid identity name")
    assert_usage_error(r["bad days"], "--days")
    assert_usage_error(r["bad org"], "--org", "invalid org id")
    assert tree(directory) == before  # nothing written by any of them


def test_revoke_prints_the_serial_and_is_idempotent(directory: Path) -> None:
    cert_file = issue_identity(directory, OrgId("acme"), "dave", PASSPHRASE.encode()) / "signcerts" / "cert.pem"
    serial = x509.load_pem_x509_certificate(cert_file.read_bytes()).serial_number
    crl_file = OrgPaths.of(directory, OrgId("acme")).crl
    out = assert_ok(run_cli(directory, "identity", "revoke", "--org", "acme", "--cert", str(cert_file)))
    assert out == f"revoked serial {serial:#x} (CN=dave@acme,OU=acme,O=ACME Securities) in {crl_file}\n"
    crl = load_crl(directory, OrgId("acme"))
    assert crl is not None and crl.get_revoked_certificate_by_serial_number(serial) is not None
    before = crl_file.read_bytes()
    out = assert_ok(run_cli(directory, "identity", "revoke", "--org", "acme", "--cert", str(cert_file)))
    assert out.startswith(f"serial {serial:#x} (CN=dave@acme,OU=acme,O=ACME Securities) was already revoked at ")
    assert out.endswith(f"; {crl_file} unchanged\n")
    assert crl_file.read_bytes() == before


def test_revoke_refusals(directory: Path, tmp_path: Path) -> None:
    acme = OrgPaths.of(directory, OrgId("acme"))
    mine = issue_identity(directory, OrgId("acme"), "erin", PASSPHRASE.encode()) / "signcerts" / "cert.pem"
    theirs = issue_identity(directory, OrgId("globex"), "gus", PASSPHRASE.encode()) / "signcerts" / "cert.pem"
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello\n")
    before = tree(directory)
    revoke = ("identity", "revoke", "--org")
    cases = {
        "other org": (directory, *revoke, "acme", "--cert", str(theirs)),
        "CA itself": (directory, *revoke, "acme", "--cert", str(acme.ca_cert)),
        "missing file": (directory, *revoke, "acme", "--cert", str(tmp_path / "missing.pem")),
        "directory": (directory, *revoke, "acme", "--cert", str(tmp_path)),
        "not a PEM": (directory, *revoke, "acme", "--cert", str(not_pem)),
        "unknown org": (directory, *revoke, "initech", "--cert", str(mine)),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, *args) for name, args in cases.items()}
        futures["wrong passphrase"] = pool.submit(
            run_cli, directory, *revoke, "acme", "--cert", str(mine), passphrase="n0pe-n0pe"
        )
        r = {name: future.result() for name, future in futures.items()}
    assert_error(r["other org"], "CN=gus@globex", "was not issued by the CA of org 'acme'", "CN=ca.globex")
    assert_error(r["CA itself"], "is a CA certificate", "refusing to revoke")
    assert_error(r["missing file"], "cannot read certificate file", "missing.pem")
    assert_error(r["directory"], "cannot read certificate file")
    assert_error(r["not a PEM"], "notes.txt", "not a PEM-encoded X.509 certificate")
    assert_error(r["unknown org"], "no identity for org 'initech'")
    assert_error(r["wrong passphrase"], "cannot decrypt", "ca-key.pem")
    assert tree(directory) == before  # no CRL change, no file left behind

    # A CRL that does not verify is never built upon: the operator must look into it.
    if not acme.crl.exists():
        assert_ok(run_cli(directory, "identity", "revoke", "--org", "acme", "--cert", str(mine)))
    good = acme.crl.read_bytes()
    der = bytearray(x509.load_pem_x509_crl(good).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01
    acme.crl.write_bytes(x509.load_der_x509_crl(bytes(der)).public_bytes(serialization.Encoding.PEM))
    try:
        other = issue_identity(directory, OrgId("acme"), "fred", PASSPHRASE.encode()) / "signcerts" / "cert.pem"
        tampered = acme.crl.read_bytes()
        assert_error(run_cli(directory, *revoke, "acme", "--cert", str(other)), "crl.pem", "does not verify")
        assert acme.crl.read_bytes() == tampered
    finally:
        acme.crl.write_bytes(good)


SERVER_ISSUED = re.compile(
    r"issued (?P<who>\S+): serial (?P<serial>0x[0-9a-f]+), valid until (?P<until>\S+Z), for (?P<sans>.+)\n"
    r"  certificate  (?P<cert>.+)\n"
    r"  key          (?P<key>.+)\n"
)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """acme and globex with a consortium.json naming acme only (globex is an identity, not a member)."""
    d = tmp_path_factory.mktemp("cli-server-cert")
    for org, name in [("acme", "ACME Securities"), ("globex", "Globex Capital")]:
        create_org_identity(d, OrgId(org), name, PASSPHRASE.encode())
    write_description(d, {"acme": ("ACME Securities", Role.NOTARY)})
    return d


def test_server_cert_of_the_notary_and_of_another_service(consortium: Path) -> None:
    ca = x509.load_pem_x509_certificate(OrgPaths.of(consortium, OrgId("acme")).ca_cert.read_bytes())
    for args, service, dns, ips in [
        ((), "notary", ["localhost"], ["127.0.0.1"]),
        (("--service", "explorer", "--san", "explorer.acme.example", "--san", "10.1.2.3", "--days", "30"),
         "explorer", ["explorer.acme.example"], ["10.1.2.3"]),
    ]:  # fmt: skip
        out = assert_ok(run_cli(consortium, "identity", "server-cert", "--org", "acme", *args))
        match = SERVER_ISSUED.fullmatch(out)
        assert match, out
        cert_path, key_path = OrgPaths.of(consortium, OrgId("acme")).service_tls(service)
        assert (Path(match["cert"]), Path(match["key"])) == (cert_path, key_path)
        assert match["who"] == f"{service}.acme" and match["sans"] == ", ".join(dns + ips)
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)
        assert match["serial"] == hex(cert.serial_number)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == dns
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ips
        key = serialization.load_pem_private_key(key_path.read_bytes(), PASSPHRASE.encode())
        assert key.public_key() == cert.public_key()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=30)


def test_server_cert_refusals_write_nothing(consortium: Path, tmp_path: Path) -> None:
    orphan = tmp_path / "orphan"  # acme's CA key kept elsewhere
    create_org_identity(orphan, OrgId("acme"), "ACME Securities", PASSPHRASE.encode())
    write_description(orphan, {"acme": ("ACME Securities", Role.NOTARY)})
    OrgPaths.of(orphan, OrgId("acme")).ca_key.unlink()
    swapped = tmp_path / "swapped"  # an acme CA that is not the one consortium.json lists
    create_org_identity(swapped, OrgId("acme"), "ACME Securities", PASSPHRASE.encode())
    (swapped / "consortium.json").write_bytes((consortium / "consortium.json").read_bytes())
    before = {d: tree(d) for d in (consortium, orphan, swapped)}
    cases: dict[str, tuple[Path, tuple[str, ...], str | None]] = {
        "not a member": (consortium, ("--org", "globex"), PASSPHRASE),
        "unknown org": (consortium, ("--org", "initech"), PASSPHRASE),
        "bad san": (consortium, ("--org", "acme", "--san", "bad host"), PASSPHRASE),
        "bad service": (consortium, ("--org", "acme", "--service", "ca"), PASSPHRASE),
        "wrong passphrase": (consortium, ("--org", "acme"), "n0pe-n0pe"),
        "no ca key": (orphan, ("--org", "acme"), PASSPHRASE),
        "swapped ca": (swapped, ("--org", "acme"), PASSPHRASE),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(run_cli, d, "identity", "server-cert", *args, passphrase=passphrase)
            for name, (d, args, passphrase) in cases.items()
        }
        r = {name: future.result() for name, future in futures.items()}
    assert_error(r["not a member"], "no member 'globex'")
    assert_error(r["unknown org"], "no identity for org 'initech'")
    assert_error(r["bad san"], "invalid host name 'bad host'")
    assert_error(r["bad service"], "invalid service name 'ca'")
    assert_error(r["wrong passphrase"], "cannot decrypt", "ca-key.pem")
    assert_error(r["no ca key"], "ca-key.pem is missing")
    assert_error(r["swapped ca"], "is not the CA consortium.json lists for acme")
    assert {d: tree(d) for d in (consortium, orphan, swapped)} == before
