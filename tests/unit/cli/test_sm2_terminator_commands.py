"""The commands of the gateway behind a TLCP terminator, in process (click's CliRunner): ``identity issue --sm2``
(a caller's SM2 certificate beside its P-256 one, refused in an ``intl`` consortium), ``identity revoke`` of an SM2
certificate (the SM2 CRL), and ``gateway nginx-config`` with and without ``--tlcp`` (Tongsuo's NTLS directives,
rendered only: no nginx here knows them). Two directories without a chain: an ``sm`` one and an ``intl`` one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chain.ids import OrgId, Role
from cli.main import cli
from network.certificates import CallerAuthenticator
from network.description import load_description
from network.identity import OrgPaths, create_org_identity, load_sm2_crl, user_paths
from network.sm2callers import sm2_paths
from suite.x509 import Certificate
from tests.support.member_directory import write_description

PASS = "sm2 terminator commands"
MEMBERS = {"acme": ("ACME Securities", Role.MEMBER), "globex": ("Globex Capital", Role.MEMBER)}


def make(root: Path, crypto: str) -> Path:
    for org, (name, _) in MEMBERS.items():
        create_org_identity(root, OrgId(org), name, PASS.encode(), crypto=crypto)
    write_description(root, MEMBERS, crypto=crypto)
    return root


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("sm"), "sm")


@pytest.fixture(scope="module")
def intl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("intl"), "intl")


def run(directory: Path, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; an error the command raises for ``consortium``'s own handler (one ``error:``
    line) as stderr."""
    result = CliRunner().invoke(cli, ["--dir", str(directory), *args], env={"CONSORTIUM_PASSPHRASE": PASS})
    raised = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr or ("" if raised is None else str(raised))


def test_identity_issue_sm2_writes_both_certificates_and_the_sm2_one_authenticates(sm: Path) -> None:
    code, out, err = run(sm, "identity", "issue", "--org", "acme", "--name", "teller", "--sm2")
    assert code == 0, (out, err)
    paths, sm2 = user_paths(sm, OrgId("acme"), "teller"), sm2_paths(sm, OrgId("acme"), "teller")
    assert f"  certificate  {paths.cert}" in out and f"  certificate  {sm2.cert}" in out
    assert "issued teller@acme (SM2): serial 0x" in out
    assert sm2.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert sm2.key.stat().st_mode & 0o777 == 0o600
    assert sm2.ca_cert.read_bytes() == OrgPaths.of(sm, OrgId("acme")).sm2_ca_cert.read_bytes()
    cert = Certificate.from_pem(sm2.cert.read_bytes())
    assert cert.subject == "CN=teller@acme,OU=acme,O=ACME Securities"
    assert cert.ext_key_usage == frozenset({"client_auth"})

    auth = CallerAuthenticator(load_description(sm), sm, {"acme": "active"}.get)
    assert auth.authenticate_pem(sm2.cert.read_text()).org == "acme"
    assert auth.authenticate_pem(paths.cert.read_text()).org == "acme"  # its P-256 one too

    # again: it has one already; nothing written
    code, _, err = run(sm, "identity", "issue", "--org", "acme", "--name", "teller", "--sm2")
    assert code == 1 and "holds an SM2 certificate already" in err, err
    # an identity without an SM2 certificate gets only that
    assert run(sm, "identity", "issue", "--org", "globex", "--name", "clerk")[0] == 0
    before = user_paths(sm, OrgId("globex"), "clerk").cert.read_bytes()
    code, out, err = run(sm, "identity", "issue", "--org", "globex", "--name", "clerk", "--sm2")
    assert code == 0, err
    assert (
        out.startswith("issued clerk@globex (SM2): ")
        and user_paths(sm, OrgId("globex"), "clerk").cert.read_bytes() == before
    )


def test_identity_revoke_of_an_sm2_certificate_writes_the_sm2_crl(sm: Path) -> None:
    assert run(sm, "identity", "issue", "--org", "acme", "--name", "leaver", "--sm2")[0] == 0
    cert_file = sm2_paths(sm, OrgId("acme"), "leaver").cert
    serial = Certificate.from_pem(cert_file.read_bytes()).serial
    code, out, err = run(sm, "identity", "revoke", "--org", "acme", "--cert", str(cert_file))
    assert code == 0, err
    path = OrgPaths.of(sm, OrgId("acme")).sm2_crl
    assert out == f"revoked serial {serial:#x} (CN=leaver@acme,OU=acme,O=ACME Securities) in {path}\n"
    crl = load_sm2_crl(sm, OrgId("acme"))
    assert crl is not None and serial in crl.revoked
    code, out, _ = run(sm, "identity", "revoke", "--org", "acme", "--cert", str(cert_file))
    assert code == 0 and "was already revoked at" in out and "unchanged" in out
    # another org's SM2 CA did not issue it
    code, _, err = run(sm, "identity", "revoke", "--org", "globex", "--cert", str(cert_file))
    assert code == 1 and "was not issued by the SM2 CA of org 'globex'" in err, err


def test_sm2_refused_in_an_intl_consortium(intl: Path) -> None:
    code, _, err = run(intl, "identity", "issue", "--org", "acme", "--name", "teller", "--sm2")
    assert code == 1 and "runs the 'intl' suite: SM2 certificates are for an 'sm' consortium" in err, err
    assert not user_paths(intl, OrgId("acme"), "teller").user_dir.exists()  # nothing written
    code, _, err = run(intl, "gateway", "nginx-config", str(intl), "--org", "acme", "--upstream", "127.0.0.1:9000",
                       "--runtime-dir", "/run/n", "--tlcp", "--sign-cert", "s", "--sign-key", "k", "--enc-cert", "e",
                       "--enc-key", "f")  # fmt: skip
    assert code == 2 and "runs the 'intl' suite" in err, err


def test_nginx_config_with_and_without_tlcp(sm: Path) -> None:
    common = ["gateway", "nginx-config", str(sm), "--org", "acme", "--upstream", "127.0.0.1:9000", "--runtime-dir",
              "/run/nginx-acme", "--port", "8443", "--auth-port", "8565"]  # fmt: skip
    code, plain, err = run(sm, *common)
    assert code == 0, err
    tls = sm.absolute() / "orgs" / "acme" / "gateway" / "tls"
    assert f"ssl_certificate {tls / 'cert.pem'};" in plain and "ssl_verify_client optional_no_ca;" in plain
    assert "upstream consortium_gateway { server 127.0.0.1:8565;" in plain and "listen 127.0.0.1:8443 ssl;" in plain
    assert "proxy_set_header X-Client-Cert $ssl_client_escaped_cert;" in plain
    assert "enable_ntls" not in plain
    files = ["--sign-cert", "/etc/t/sign.crt", "--sign-key", "/etc/t/sign.key", "--enc-cert", "/etc/t/enc.crt",
             "--enc-key", "/etc/t/enc.key"]  # fmt: skip
    code, tlcp, err = run(sm, *common, "--tlcp", *files)
    assert code == 0, err
    for line in ("enable_ntls on;", "ssl_sign_certificate /etc/t/sign.crt;",
                 "ssl_sign_certificate_key /etc/t/sign.key;", "ssl_enc_certificate /etc/t/enc.crt;",
                 "ssl_enc_certificate_key /etc/t/enc.key;"):  # fmt: skip
        assert f"        {line}\n" in tlcp, line
    # the same auth subrequest, the same header: the gateway tells an SM2 certificate by its signature algorithm
    assert tlcp.split("location = /_consortium_auth", 1)[1] == plain.split("location = /_consortium_auth", 1)[1]
    code, _, err = run(sm, *common, "--tlcp", *files[:6])
    assert code == 2 and "--tlcp needs --enc-key" in err, err
    code, _, err = run(sm, *common, *files[:2])
    assert code == 2 and "--sign-cert only with --tlcp" in err, err
    code, _, err = run(sm, *common[:6], "127.0.0.1:90;00", *common[7:])
    assert code == 2 and "HOST:PORT" in err, err
