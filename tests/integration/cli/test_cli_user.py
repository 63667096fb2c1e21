"""``consortium user add|token|list`` as an operator runs them, and the demo's people.

The org identities and a ``consortium.json`` naming them (acme and globex, firms; finreg, the regulator) are
created once for the module in process; every command takes DIR as its argument and its passphrase from
``$CONSORTIUM_PASSPHRASE`` or ``--passphrase-file``. Tokens the commands print are checked by the explorer's
:class:`network.logins.Authenticator`. A usage error (bad input) is exit 2 with click's message; a refusal by the
state of DIR is exit 1 with one line ``error: ...``; neither writes anything.

Commands run as real subprocesses of the installed ``consortium`` where it matters (the happy paths, and the
refusals that ``main`` turns into one line), concurrently where independent; what click answers by itself
(usage errors) and the commands' own refusals run in process through click's runner, a second of imports
cheaper each.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.ids import OrgId, Role
from cli.main import cli
from demo.people import LOGINS_DIR, ensure_demo_people, write_demo_logins
from network.identity import (
    IdentityError,
    certificate_role,
    create_org_identity,
    issue_identity,
    user_paths,
)
from network.logins import Authenticator, LoginError
from tests.support.member_directory import write_description

PASSPHRASE = "cli-user-passphrase"
COMMAND_TIMEOUT = 60.0
MEMBERS: dict[str, tuple[str, Role]] = {
    "acme": ("ACME Securities", Role.MEMBER),
    "globex": ("Globex Capital", Role.MEMBER | Role.WITNESS),
    "finreg": ("Financial Regulator", Role.REGULATOR | Role.WITNESS),
}

_SCRIPT = Path(sys.executable).with_name("consortium")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "cli.main"]

ADDED = re.compile(
    r"added (?P<who>\S+), role (?P<role>\S+): serial (?P<serial>0x[0-9a-f]+), valid until (?P<until>\S+Z)\n"
    r"  certificate  (?P<cert>.+)\n"
    r"  key          (?P<key>.+)\n"
    r"  log in with  consortium user token (?P<dir>.+) --org (?P<org>\S+) --name (?P<name>\S+)\n"
)
WROTE = re.compile(
    r"wrote the login token of (?P<who>\S+) \(role (?P<role>\S+)\), valid until (?P<until>\S+Z), to (?P<out>.+)\n"
)


@dataclass(frozen=True)
class Ran:
    """What a command did, run as a subprocess (the installed entry point) or in process (click's runner)."""

    code: int
    stdout: str
    stderr: str


def cli_env(passphrase: str | None = PASSPHRASE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
    env["PYTHONUNBUFFERED"] = "1"
    if passphrase is not None:
        env["CONSORTIUM_PASSPHRASE"] = passphrase
    return env


def run_cli(*args: str, passphrase: str | None = PASSPHRASE) -> Ran:
    """``consortium ARGS`` in a subprocess: what an operator runs, failures turned into one line by ``main``."""
    r = subprocess.run(
        [*CLI, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(passphrase),
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Ran(r.returncode, r.stdout, r.stderr)


def invoke(*args: str, passphrase: str | None = PASSPHRASE) -> Ran:
    """``consortium ARGS`` in this process, for what click itself answers (usage errors) or the command does
    without raising (its own ``error:`` lines): milliseconds instead of a second of imports per command."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CONSORTIUM_")}
    env["CONSORTIUM_PASSPHRASE"] = passphrase
    r = CliRunner().invoke(cli, list(args), env=env)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return Ran(r.exit_code, r.stdout, r.stderr)


def shown(r: Ran) -> str:
    return f"exit {r.code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def assert_ok(r: Ran) -> str:
    assert r.code == 0, shown(r)
    assert r.stderr == "", shown(r)
    return r.stdout


def assert_error(r: Ran, *fragments: str) -> None:
    assert r.code == 1, shown(r)
    assert "Traceback" not in r.stderr, shown(r)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), shown(r)
    for fragment in fragments:
        assert fragment in lines[0], shown(r)
    assert r.stdout == "", shown(r)


def assert_usage_error(r: Ran, *fragments: str) -> None:
    assert r.code == 2, shown(r)
    assert r.stderr.startswith("Usage: ") and "Traceback" not in r.stderr, shown(r)
    for fragment in fragments:
        assert fragment in r.stderr, shown(r)
    assert r.stdout == "", shown(r)


def tree(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def make_consortium(root: Path, crypto: str = "intl") -> Path:
    """Org identities and a ``consortium.json`` naming them (no chain behind it: these commands need none)."""
    for org, (name, _roles) in MEMBERS.items():
        create_org_identity(root, OrgId(org), name, PASSPHRASE.encode(), crypto=crypto)
    write_description(root, MEMBERS, name="cli user test", crypto=crypto)
    return root


def authenticator(root: Path) -> Authenticator:
    return Authenticator(root, regulator_orgs=[o for o, (_n, r) in MEMBERS.items() if Role.REGULATOR in r])


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_consortium(tmp_path_factory.mktemp("cli-user"))


# ------------------------------------------------------------------------------------------ add, token, list


def test_add_issues_a_person_with_the_role_in_the_certificate(directory: Path) -> None:
    out = assert_ok(run_cli("user", "add", str(directory), "--org", "acme", "--name", "alice", "--role", "compliance"))
    match = ADDED.fullmatch(out)
    assert match, out
    paths = user_paths(directory, OrgId("acme"), "alice")
    assert (match["who"], match["role"], match["org"], match["name"]) == ("alice@acme", "compliance", "acme", "alice")
    assert (Path(match["cert"]), Path(match["key"]), Path(match["dir"])) == (paths.cert, paths.key, directory)
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    assert match["serial"] == hex(cert.serial_number)
    assert cert.subject.rfc4514_string() == "CN=alice@acme,2.5.4.12=compliance,OU=acme,O=ACME Securities"
    assert certificate_role(cert) == "compliance"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=365)
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600

    out = assert_ok(
        run_cli(
            "user", "add", str(directory), "--org", "finreg", "--name", "ivy", "--role", "regulator", "--days", "30"
        )
    )
    assert ADDED.fullmatch(out), out
    cert = x509.load_pem_x509_certificate(user_paths(directory, OrgId("finreg"), "ivy").cert.read_bytes())
    assert certificate_role(cert) == "regulator"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=30)


def test_token_is_accepted_by_the_explorer(directory: Path, tmp_path: Path) -> None:
    issue_identity(directory, OrgId("globex"), "oscar", PASSPHRASE.encode(), role="operator")
    before = math.floor(time.time())
    out = assert_ok(run_cli("user", "token", str(directory), "--org", "globex", "--name", "oscar", "--hours", "2"))
    after = math.ceil(time.time())
    assert out.count("\n") == 1
    token = out.strip()
    person = authenticator(directory).authenticate(f"Bearer {token}")
    assert (person.org, person.name, person.role, person.is_regulator) == ("globex", "oscar", "operator", False)
    assert person.display_name == "oscar (Globex Capital)"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2 * 3600
    assert before <= claims["iat"] <= after  # issued while the command ran

    # --out: the file (replaced if it exists, whatever its mode) holds the token, mode 0600; stdout says so.
    file = tmp_path / "oscar.token"
    file.write_text("old\n")
    file.chmod(0o644)
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    out = assert_ok(
        run_cli(
            "--passphrase-file",
            str(passphrase_file),
            "user",
            "token",
            str(directory),
            "--org",
            "globex",
            "--name",
            "oscar",
            "--out",
            str(file),
            passphrase=None,
        )
    )
    match = WROTE.fullmatch(out)
    assert match, out
    assert (match["who"], match["role"], Path(match["out"])) == ("oscar@globex", "operator", file)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    written = file.read_text()
    assert written.endswith("\n") and written.count("\n") == 1
    assert authenticator(directory).authenticate(f"Bearer {written.strip()}").name == "oscar"
    claims = jwt.decode(written.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 8 * 3600  # the default


def test_list_shows_role_validity_and_revocation(directory: Path) -> None:
    for org, name, role in [
        ("acme", "lena", "compliance"),
        ("acme", "olaf", "operator"),
        ("finreg", "rita", "regulator"),
    ]:
        issue_identity(directory, OrgId(org), name, PASSPHRASE.encode(), role=role, org_roles=MEMBERS[org][1])
    issue_identity(directory, OrgId("acme"), "caller", PASSPHRASE.encode())  # no role: not a person
    cert_file = user_paths(directory, OrgId("acme"), "olaf").cert
    assert_ok(run_cli("--dir", str(directory), "identity", "revoke", "--org", "acme", "--cert", str(cert_file)))

    rows = json.loads(assert_ok(invoke("user", "list", str(directory), "--json")))
    by_name = {(r["org"], r["name"]): r for r in rows}
    assert ("acme", "caller") not in by_name and ("acme", "Admin") not in by_name
    lena, olaf, rita = by_name["acme", "lena"], by_name["acme", "olaf"], by_name["finreg", "rita"]
    assert (lena["role"], lena["state"], lena["revoked_at"]) == ("compliance", "valid", None)
    assert (olaf["role"], olaf["state"]) == ("operator", "revoked") and olaf["revoked_at"].endswith("Z")
    assert (rita["role"], rita["state"]) == ("regulator", "valid")
    cert = x509.load_pem_x509_certificate(user_paths(directory, OrgId("acme"), "lena").cert.read_bytes())
    assert lena["valid_until"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lena["serial"] == hex(cert.serial_number)
    assert [(r["org"], r["name"]) for r in rows] == sorted((r["org"], r["name"]) for r in rows)

    text = assert_ok(invoke("user", "list", str(directory), "--org", "acme"))
    lines = text.splitlines()
    assert lines[0].split() == ["ORG", "NAME", "ROLE", "VALID", "FROM", "VALID", "UNTIL", "STATE"]
    assert all(line.split()[0] == "acme" for line in lines[1:])
    assert any(line.split()[1:3] == ["lena", "compliance"] and line.split()[-1] == "valid" for line in lines)
    olaf_line = next(line for line in lines if line.split()[1] == "olaf")
    assert olaf_line.split()[-2:] == ["revoked", olaf["revoked_at"]]
    assert not any(line.split()[1] in ("caller", "Admin") for line in lines[1:])

    empty = make_consortium(directory.parent / "empty")
    assert assert_ok(invoke("user", "list", str(empty))).startswith("no people in ")
    assert json.loads(assert_ok(invoke("user", "list", str(empty), "--json"))) == []


@pytest.mark.parametrize("crypto", ["intl", "sm"])
def test_list_gives_a_persons_identity_as_the_events_of_their_queries_carry_it(tmp_path: Path, crypto: str) -> None:
    """``identity`` is the ``caller_identity`` of the person's events: the SHA-256 of their certificate, its SM3 in
    an ``sm`` consortium (whose events are of schema version 3)."""
    from tests.support.sm3_reference import sm3

    root = make_consortium(tmp_path, crypto)
    issue_identity(root, OrgId("acme"), "lena", PASSPHRASE.encode(), role="compliance", org_roles=MEMBERS["acme"][1])
    (row,) = json.loads(assert_ok(invoke("user", "list", str(root), "--json")))
    cert = x509.load_pem_x509_certificate(user_paths(root, OrgId("acme"), "lena").cert.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert row["identity"] == (sm3(der).hex() if crypto == "sm" else hashlib.sha256(der).hexdigest())


# ------------------------------------------------------------------------------------------ refusals


def test_bad_input_is_a_usage_error_and_writes_nothing(directory: Path, tmp_path: Path) -> None:
    issue_identity(directory, OrgId("acme"), "tom", PASSPHRASE.encode(), role="compliance")
    before = tree(directory)
    d = str(directory)
    add = ("user", "add", d)
    token = ("user", "token", d)
    cases: dict[str, tuple[str, ...]] = {
        "bad name": (*add, "--org", "acme", "--name", "../evil", "--role", "compliance"),
        "bad role": (*add, "--org", "acme", "--name", "pat", "--role", "admin"),
        "no role": (*add, "--org", "acme", "--name", "pat"),
        "bad days": (*add, "--org", "acme", "--name", "pat", "--role", "operator", "--days", "0"),
        "bad org": (*add, "--org", "ACME!", "--name", "pat", "--role", "operator"),
        "not a member": (*add, "--org", "initech", "--name", "pat", "--role", "operator"),
        "regulator of a firm": (*add, "--org", "acme", "--name", "pat", "--role", "regulator"),
        "no such directory": (
            "user",
            "add",
            str(tmp_path / "nowhere"),
            "--org",
            "acme",
            "--name",
            "p",
            "--role",
            "operator",
        ),
        "hours 0": (*token, "--org", "acme", "--name", "tom", "--hours", "0"),
        "hours 721": (*token, "--org", "acme", "--name", "tom", "--hours", "721"),
        "out a directory": (*token, "--org", "acme", "--name", "tom", "--out", str(tmp_path)),
        "token not a member": (*token, "--org", "initech", "--name", "tom"),
        "list unknown org": ("user", "list", d, "--org", "initech"),
    }
    r = {name: invoke(*args) for name, args in cases.items()}  # click answers these: no need for a subprocess
    r["bad role, subprocess"] = run_cli(*cases["bad role"])
    assert_usage_error(r["bad role, subprocess"], "--role", "'admin' is not one of")
    assert_usage_error(r["bad name"], "--name", "invalid identity name")
    assert_usage_error(r["bad role"], "--role", "'admin' is not one of 'compliance', 'operator', 'regulator'")
    assert_usage_error(r["no role"], "Missing option '--role'")
    assert_usage_error(r["bad days"], "--days")
    assert_usage_error(r["bad org"], "--org", "invalid org id")
    assert_usage_error(
        r["not a member"], "--org", "'initech' is not a member of the consortium", "acme, globex, finreg"
    )
    assert_usage_error(r["regulator of a firm"], "--role", "only for a person of an org with the regulator role")
    assert_usage_error(r["no such directory"], "nowhere", "does not exist")
    assert_usage_error(r["hours 0"], "--hours")
    assert_usage_error(r["hours 721"], "--hours", "0.01<=x<=720")
    assert_usage_error(r["out a directory"], "--out", "is a directory")
    assert_usage_error(r["token not a member"], "--org", "not a member")
    assert_usage_error(r["list unknown org"], "--org", "no org 'initech'")
    assert tree(directory) == before  # nothing written by any of them
    assert list(tmp_path.iterdir()) == []


def test_refusals_by_the_state_of_the_directory(directory: Path, tmp_path: Path) -> None:
    issue_identity(directory, OrgId("acme"), "uma", PASSPHRASE.encode(), role="operator")
    issue_identity(directory, OrgId("acme"), "victor", PASSPHRASE.encode(), role="operator")
    issue_identity(directory, OrgId("acme"), "plain", PASSPHRASE.encode())
    victor = user_paths(directory, OrgId("acme"), "victor").cert
    assert_ok(run_cli("--dir", str(directory), "identity", "revoke", "--org", "acme", "--cert", str(victor)))
    bare = tmp_path / "bare"  # org identities but no consortium.json
    create_org_identity(bare, OrgId("acme"), "ACME Securities", PASSPHRASE.encode())
    before, before_bare = tree(directory), tree(bare)
    d = str(directory)
    nope = "n0pe-n0pe"
    out = tmp_path / "out.token"
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text(nope + "\n")
    cases: dict[str, tuple[tuple[str, ...], str | None]] = {
        "exists": (("user", "add", d, "--org", "acme", "--name", "uma", "--role", "operator"), PASSPHRASE),
        "add wrong passphrase": (("user", "add", d, "--org", "acme", "--name", "wes", "--role", "operator"), nope),
        "add no passphrase": (("user", "add", d, "--org", "acme", "--name", "wes", "--role", "operator"), None),
        "no consortium.json": (
            ("user", "add", str(bare), "--org", "acme", "--name", "wes", "--role", "operator"),
            PASSPHRASE,
        ),
        "token wrong passphrase": (("user", "token", d, "--org", "acme", "--name", "uma", "--out", str(out)), nope),
        "token no passphrase": (("user", "token", d, "--org", "acme", "--name", "uma"), None),
        # consortium's --passphrase-file counts for a command that takes one itself too, before the environment's
        "witness serve, consortium's file wrong": (
            ("--passphrase-file", str(wrong), "witness", "serve", d, "--org", "globex", "--port", "0"),
            PASSPHRASE,
        ),
        "witness serve, no witness": (("witness", "serve", d, "--org", "globex", "--port", "0"), PASSPHRASE),
    }
    # Refusals raised as exceptions become one line in `main`: a subprocess runs them through it.
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args, passphrase=p) for name, (args, p) in cases.items()}
        r = {name: future.result() for name, future in futures.items()}
    # The command's own refusals: in process.
    r["no such person"] = invoke("user", "token", d, "--org", "acme", "--name", "nobody")
    r["not a person"] = invoke("user", "token", d, "--org", "acme", "--name", "plain", "--out", str(out))
    r["revoked"] = invoke("user", "token", d, "--org", "acme", "--name", "victor", "--out", str(out))
    assert_error(r["exists"], "identity uma@acme already exists", "refusing to overwrite")
    assert_error(r["add wrong passphrase"], "cannot decrypt", "ca-key.pem")
    assert nope not in r["add wrong passphrase"].stderr
    assert_error(r["add no passphrase"], "no passphrase", "CONSORTIUM_PASSPHRASE")
    assert_error(r["no consortium.json"], "consortium.json not found")
    assert_error(r["no such person"], "no person nobody@acme", "consortium user add")
    assert_error(r["not a person"], "identity plain@acme carries no role")
    assert_error(r["revoked"], "the certificate of victor@acme", "was revoked at")
    assert_error(r["token wrong passphrase"], "cannot decrypt", "key.pem")
    assert_error(r["token no passphrase"], "no passphrase")
    assert_error(r["witness serve, consortium's file wrong"], "cannot decrypt", "witness")
    assert_error(r["witness serve, no witness"], "'globex' is not a witness of this consortium")
    assert tree(directory) == before and tree(bare) == before_bare
    assert not out.exists()


# ------------------------------------------------------------------------------------------ the demo's people


def test_demo_people_and_their_logins(tmp_path: Path) -> None:
    root = make_consortium(tmp_path / "demo")
    people = ensure_demo_people(root, PASSPHRASE.encode(), ["finreg"], ["acme", "globex"])
    assert people == [
        ("acme", "compliance", "compliance"),
        ("acme", "operator", "operator"),
        ("globex", "compliance", "compliance"),
        ("globex", "operator", "operator"),
        ("finreg", "inspector", "regulator"),
    ]
    certs = {(o, n): user_paths(root, OrgId(o), n).cert.read_bytes() for o, n, _r in people}
    assert ensure_demo_people(root, PASSPHRASE.encode(), ["finreg"], ["acme", "globex"]) == people
    assert {(o, n): user_paths(root, OrgId(o), n).cert.read_bytes() for o, n, _r in people} == certs  # kept

    folder = write_demo_logins(root, PASSPHRASE.encode(), people)
    assert folder == root / LOGINS_DIR == root / "explorer" / "logins"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}@{o}.token" for o, n, _r in people)
    auth = authenticator(root)
    for org, name, role in people:
        file = folder / f"{name}@{org}.token"
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        person = auth.authenticate(f"Bearer {file.read_text().strip()}")
        assert (person.org, person.name, person.role) == (org, name, role)
        claims = jwt.decode(file.read_text().strip(), options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 7 * 24 * 3600
    first = (folder / "inspector@finreg.token").read_text()
    write_demo_logins(root, PASSPHRASE.encode(), people[-1:], hours=1)  # fresh tokens replace the old ones
    assert (folder / "inspector@finreg.token").read_text() != first

    # A demo name taken by an identity with another role: said at once, not a token the explorer would refuse.
    other = make_consortium(tmp_path / "taken")
    issue_identity(other, OrgId("acme"), "operator", PASSPHRASE.encode())
    with pytest.raises(IdentityError, match="operator@acme exists with role none, not operator"):
        ensure_demo_people(other, PASSPHRASE.encode(), ["finreg"], ["acme"])
    with pytest.raises(LoginError):
        authenticator(other).authenticate(None)
