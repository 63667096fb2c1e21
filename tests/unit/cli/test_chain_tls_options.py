"""The client-certificate options of the services `consortium up --rpc-tls` starts, and their refusals: the
root options ``--chain-cert/--chain-key`` before ``notary serve`` and ``gateway serve`` (``root_chain_tls``), and
the explorer's own. A consortium directory with no chain behind it: every case is refused before anything
connects or listens."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chain.ids import OrgId
from cli._common import Context
from cli.main import cli
from explorer.__main__ import main as explorer_main
from network.identity import OrgPaths
from tests.unit.network.test_crypto_suite import PASS, consortium


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("chain-tls")
    consortium(directory, "intl")  # consortium.json's chain URL is http://127.0.0.1:9
    return directory


def admin(root: Path) -> tuple[str, str]:
    paths = OrgPaths.of(root, OrgId("acme"))
    return str(paths.sign_cert), str(paths.identity_key)


def run(args: list[str], passphrase: bool = True) -> Result:
    env = {"CONSORTIUM_PASSPHRASE": PASS.decode() if passphrase else ""}
    return CliRunner().invoke(cli, args, env=env)


@pytest.mark.parametrize("command", [["notary", "serve"], ["gateway", "serve"]], ids=["notary", "gateway"])
def test_a_service_refuses_a_client_certificate_for_an_http_chain(root: Path, command: list[str]) -> None:
    cert, key = admin(root)
    extra = ["--org", "acme", "--upstream", "http://127.0.0.1:9"] if command[0] == "gateway" else []
    result = run(["--chain-cert", cert, "--chain-key", key, *command, str(root), *extra])
    assert result.exit_code == 1, result.output
    assert "are for an https chain URL, not http://127.0.0.1:9" in result.output, result.output


def test_a_service_refuses_a_certificate_without_its_key(root: Path) -> None:
    cert, _ = admin(root)
    result = run(["--chain-cert", cert, "notary", "serve", str(root)])
    assert result.exit_code == 1, result.output
    assert "--chain-cert and --chain-key go together" in result.output, result.output


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("cert-alone", "--chain-cert and --chain-key go together"),
        ("http-chain", "are for an https chain URL"),
        ("no-passphrase", "--chain-key needs CONSORTIUM_PASSPHRASE"),
    ],
    ids=["cert-alone", "http-chain", "no-passphrase"],
)
def test_the_explorer_refuses_client_certificate_options_that_cannot_work(root: Path, case: str, reason: str) -> None:
    cert, key = admin(root)
    args = [str(root), "--no-audit", "--chain-cert", cert]
    env = {"CONSORTIUM_PASSPHRASE": PASS.decode()}
    if case != "cert-alone":
        args += ["--chain-key", key]
    if case == "no-passphrase":
        args += ["--chain-url", "https://127.0.0.1:9"]
        env = {"CONSORTIUM_PASSPHRASE": ""}
    result = CliRunner().invoke(explorer_main, args, env=env)
    assert result.exit_code == 2, result.output
    assert reason in result.output, result.output


def test_the_gateway_and_the_explorer_need_a_notary_url_given_or_recorded(root: Path) -> None:
    """Neither falls back to a fixed port: without --notary-url and with none in consortium.json they say so."""
    gateway = run(["gateway", "serve", str(root), "--org", "acme", "--upstream", "http://127.0.0.1:9"])
    explorer = CliRunner().invoke(explorer_main, [str(root), "--no-audit"], env={"CONSORTIUM_PASSPHRASE": ""})
    for result in (gateway, explorer):
        assert result.exit_code != 0, result.output
        assert "consortium.json records no notary URL" in result.output and "--notary-url" in result.output


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("cert-alone", "--chain-cert and --chain-key go together"),
        ("http-chain", "--chain-cert, --chain-key and --chain-ca are for an https chain URL, not http://127.0.0.1:9"),
        ("no-passphrase", "cannot open --chain-key"),
        ("offline-with-chain", "--offline reads no chain"),
    ],
    ids=["cert-alone", "http-chain", "no-passphrase", "offline-with-chain"],
)
def test_verify_refuses_client_certificate_options_that_cannot_work(root: Path, case: str, reason: str) -> None:
    """``verify state`` and ``verify evidence`` take a member's certificate for a node serving members only
    (``--chain-cert``/``--chain-key``, as the root options): refused, before anything connects, where it cannot
    work."""
    cert, key = admin(root)
    consortium = str(root / "consortium.json")
    args = ["verify", "state", "--consortium", consortium, "--validator", "0x" + "11" * 20, "--chain-cert", cert]
    env = {"CONSORTIUM_PASSPHRASE": PASS.decode()}
    if case != "cert-alone":
        args += ["--chain-key", key]
    if case == "no-passphrase":
        args += ["--chain-url", "https://127.0.0.1:9"]
        env = {"CONSORTIUM_PASSPHRASE": ""}
    if case == "offline-with-chain":
        bundle = root / "bundle.json"
        bundle.write_text("{}")
        args = ["verify", "evidence", str(bundle), "--consortium", consortium, "--offline", "--chain-url", "http://x"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    assert reason in result.output, result.output


def test_a_read_of_an_https_chain_presents_the_admin_identity_of_the_member_named(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command without an ``--as`` of its own reads a node serving members only as the member of ``consortium
    --as ORG`` (``Context.reader``), else as the one org whose admin identity the directory holds (a firm's own
    directory); a directory of several, as the demo's, names none (the node's refusal then says what to pass), and a
    member named whose identity the directory lacks is an error before anything connects."""
    monkeypatch.setenv("CONSORTIUM_PASSPHRASE", PASS.decode())

    def presented(directory: Path, reader: str | None = None) -> Path | None:
        tls = Context(directory, "https://127.0.0.1:9", None, reader=reader).chain_tls()
        assert tls is not None
        return tls.cert

    assert presented(root, "globex") == OrgPaths.of(root, OrgId("globex")).sign_cert
    assert presented(root) is None  # acme and globex
    with pytest.raises(SystemExit):
        presented(root, "initech")
    firm = tmp_path / "firm"  # one firm's directory: its consortium.json and its own identity only
    shutil.copytree(root / "orgs" / "globex", firm / "orgs" / "globex")
    shutil.copy(root / "consortium.json", firm / "consortium.json")
    assert presented(firm) == OrgPaths.of(firm, OrgId("globex")).sign_cert


def test_the_root_as_option_takes_an_org_id_only(root: Path) -> None:
    result = run(["--dir", str(root), "--as", "Not An Org", "member", "list"])
    assert result.exit_code == 2 and "org id" in result.output, result.output
