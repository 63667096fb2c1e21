"""``consortium up --rpc-tls --notary-tls``: the nodes serve their JSON-RPC, and the notary its log, over HTTPS to
members only, and every component `up` starts reaches them with a client certificate of its own org.

One small consortium (``tests/support/small_consortium.py``, with one API of the operator granted to alpha) runs
under ``up --rpc-tls`` as a real process, without demo traffic. A call through the operator's gateway is allowed
(the gateway read the grant from the chain), logged by the notary and anchored on chain (the notary reached the
chain); a request without a client certificate to a node gets the 401 and its JSON-RPC error; the CLI reads with
a member's certificate, and without one says which options to pass; a transaction signed ``--as`` an org presents
that org's admin certificate by itself; the explorer indexes blocks of the members-only node. The notary completes
a TLS handshake only with a member's certificate: the operator's gateway shipped the call's event to it, the SDK
read the evidence with alpha's client's certificate, the explorer indexed the log with the operator's log@
identity, the CLI verifies the log with alpha's, the alarm probe finds it up with the operator's.

The same `up` serves the live alarms beyond loopback as its settings file says (``DIR/up.toml``: ``host =
"0.0.0.0"`` and a certificate of the operator's CA at ``tls_cert``/``tls_key``, no command-line option): over
mutual TLS, the operator's certificate with the token reads them, another member's gets 403 and no certificate
gets no handshake; `up`'s own explorer reads them from there.

A leaked client certificate of alpha's revoked on chain is refused by the node at the first request after the
revoking receipt and by op's gateway once its view read that block. Then, on the same `up`, the operator rotates
its gateway key with ``consortium gateway rotate-key`` under calls through its gateway (``docs/trust.md``,
"Rotating a gateway key"): no batch refused, no gap, the switch from the new key's block with no restart. Then alpha
rotates its CA with ``consortium identity rotate-ca`` under its calls through op's gateway ("Rotating a CA"): no call
refused, the old CA's certificate refused once retired. Last, a
regulator declares alpha's gateway key compromised (batches it signs taken for events dated before the compromise,
refused with nothing written after) and then the log's key (``verify evidence`` passes a bundle anchored before,
fails one anchored at the compromise and says why).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from chain.contracts.trust import KeyKind, KeyState
from chain.errors import BackendError
from chain.ids import OrgId
from chain.tx import transact
from cli.main import cli
from network.admission import check_on_chain, load_request, open_registry
from network.alarms.probe import NodeTarget, Prober, targets_of
from network.alarms.server import api_token
from network.certificates import ca_bundle_pem
from network.config import parse_config
from network.consortium import Consortium, init_consortium
from network.description import load_description
from network.identity import OrgPaths, issue_identity, issue_service_certificate, load_gateway_key, user_paths
from network.logsetup import LOG_IDENTITY, notary_client_tls
from network.nodeaccess import CHAIN_IDENTITY, client_tls
from network.upsettings import SETTINGS_FILE
from notary.logsuite import public_bytes
from notary.readauth import SignedReads, sign_read
from notary.sequencer import batch_request
from sdk import MemberClient
from tests.support.notary_events import event
from tests.support.small_consortium import three_member_config
from tests.support.up_process import CHAIN_ID, UpProcess, free_port_block
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

PASSPHRASE = "up-rpc-tls-passphrase"
START_TIMEOUT = 240.0
FOLLOW_TIMEOUT = 60.0  # the explorer polls every half second; generous for a loaded machine
ROUTE = "/v1/market/quotes/level2"
#: Where the settings file has `up` serve the alarms: every address, so HTTPS over mutual TLS only.
ALARMS_HOST = "0.0.0.0"
#: The rotation's overlap in blocks (and the blocks before the new key's): more than the rotation's transactions
#: and an anchor or two come to, on a chain that seals a block for each transaction.
OVERLAP = 5


def _config() -> dict[str, object]:
    """The small consortium with one API of the operator's, which alpha may call for trading."""
    api = {"id": "quotes", "method": "GET", "route": ROUTE, "provider": "op", "asset": "quotes", "name": "Quotes"}
    return {
        **three_member_config("rpc-tls-test", CHAIN_ID),
        "catalogue": {
            "centers": [{"id": "market", "name": "Market", "units": [{"id": "md", "name": "Data", "apis": [api]}]}],
            "assets": [
                {
                    "id": "quotes",
                    "owner": "op",
                    "kind": "feed",
                    "classification": 2,
                    "title": "Quotes",
                    "description": "Q",
                }
            ],
            "grants": [{"asset": "quotes", "grantee": "alpha", "purpose": "trading", "days": 365, "quota": 0}],
        },
    }


@dataclass
class Running:
    directory: Path
    up: UpProcess
    passphrase_file: Path
    summary: list[str]

    @property
    def node(self) -> str:
        return f"https://127.0.0.1:{self.up.port}"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("rpc-tls")
    directory = base / "consortium"
    init_consortium(directory, parse_config(_config()), PASSPHRASE.encode(), load_demo=True)
    passphrase_file = base / "pass"
    passphrase_file.write_text(PASSPHRASE)
    # The alarm endpoint's host and certificate from the settings file: a certificate of the operator's CA for
    # 127.0.0.1 (where up's explorer reaches a wildcard's endpoint), not at the default path orgs/op/alarms/tls.
    cert, key = issue_service_certificate(directory, OrgId("op"), "alarms-remote", PASSPHRASE.encode(),
                                          hostnames=["localhost"], ips=["127.0.0.1"])  # fmt: skip
    (directory / SETTINGS_FILE).write_text(
        f'[alarms]\nhost = "{ALARMS_HOST}"\ntls_cert = "{cert.relative_to(directory)}"\n'
        f'tls_key = "{key.relative_to(directory)}"\ninterval_s = 1\n'
    )
    port = free_port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSORTIUM_")}
    env.update({"CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"})
    argv = [sys.executable, "-m", "cli.main", "up", str(directory), "--port", str(port), "--traffic", "0",
            "--block-time", "0.2", "--rpc-tls", "--notary-tls"]  # fmt: skip
    up = UpProcess(argv, env, port)
    try:
        summary = up.wait_for_summary(timeout=START_TIMEOUT, plain_rpc=False)
        yield Running(directory, up, passphrase_file, summary)
    finally:
        if up.process.poll() is None:
            code = up.stop()
            assert code == 0, f"`consortium up --rpc-tls` exited {code} on SIGTERM:\n{up.output()}"


def run(running: Running, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--dir", str(running.directory), "--passphrase-file", str(running.passphrase_file), *args]
    )


def test_up_rpc_tls_serves_members_only_and_its_components_reach_the_chain(running: Running) -> None:
    directory = running.directory
    description = load_description(directory)
    assert description.chain_url == running.node, description.chain_url  # later commands read an https chain
    nodes = json.loads((directory / "nodes" / "nodes.json").read_text())
    assert all(n["rpc_url"].startswith("https://127.0.0.1:") for n in nodes["nodes"]), nodes
    for org in ("op",):  # the gateway's and the notary's, explorer's and alarms' (the operator's)
        assert (directory / "orgs" / org / "users" / f"{CHAIN_IDENTITY}@{org}" / "msp" / "signcerts").is_dir()

    # Without a client certificate the node answers 401 and one JSON-RPC error saying why.
    context = ssl.create_default_context(cadata=ca_bundle_pem(description))
    body = {"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": []}
    refused = httpx.post(running.node, json=body, verify=context, timeout=10)
    assert refused.status_code == 401, refused.text
    error = refused.json()
    assert error["id"] == 7 and error["error"]["code"] == -32010, error
    assert "no_certificate" in error["error"]["message"], error

    # The notary serves HTTPS to members only: no TLS handshake without a member's client certificate.
    notary = f"https://127.0.0.1:{running.up.port + 1}"
    assert description.notary_url == notary, description.notary_url
    assert any(f"verify log {notary} --consortium" in line for line in running.summary), running.summary
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{notary}/healthz", verify=context, timeout=10)

    # A call through the operator's gateway: the grant was read from the chain (allowed), the notary logged it
    # (the gateway shipped it over mutual TLS) and anchored a checkpoint covering it on chain; the SDK reads the
    # evidence presenting alpha's client certificate.
    with MemberClient.from_directory(
        directory, "alpha", name="client", passphrase=PASSPHRASE.encode(), notary_url=notary
    ) as client:
        result = client.call(f"https://localhost:{running.up.port + 20}", "GET", ROUTE, purpose="trading",
                             params={"symbol": "600519.SH"})  # fmt: skip
        assert result.status == 200, (result.status, result.content[:300])
        assert result.event_id is not None
        bundle = client.evidence(result.event_id, wait_s=120, anchored=True)
        # verified with the witness and log keys read on chain at its anchor, through the members-only node with
        # the client's own certificate; without one the node's refusal is the error
        report = client.verify(bundle, description, chain_tls=client.chain_tls)
        assert report.ok and report.complete, report.to_text()
        with pytest.raises(BackendError, match="no_certificate"):
            client.verify(bundle, description)
    assert bundle.anchor is not None, bundle
    entry = json.loads(bundle.entry)
    assert entry["decision"] == "allow", entry
    # The provider reveals the call's digest salt, reading its entry from the notary with its log@ identity.
    revealed = run(running, "data", "reveal", result.event_id, "--provider", "op")
    assert revealed.exit_code == 0, (revealed.output, revealed.exception)
    assert json.loads(revealed.stdout)["event_id"] == result.event_id, revealed.output

    # The CLI reads with a member's certificate (alpha's admin identity), and without one says what to pass.
    admin = directory / "orgs" / "alpha" / "users" / "Admin@alpha" / "msp"
    listed = run(running, "--chain-cert", str(admin / "signcerts" / "cert.pem"), "--chain-key",
                 str(admin / "keystore" / "key.pem"), "member", "list")  # fmt: skip
    assert listed.exit_code == 0, (listed.output, listed.exception)
    assert all(org in listed.output for org in ("op", "alpha", "reg")), listed.output
    bare = run(running, "member", "list")
    assert bare.exit_code == 1, bare.output
    assert "no_certificate" in bare.output and "consortium --as ORG" in bare.output, bare.output
    assert "--chain-cert" in bare.output, bare.output
    # `consortium --as ORG` (or $CONSORTIUM_AS) names the member a read is made as: its admin identity in DIR/orgs
    for named, env in ((["--as", "reg"], {}), ([], {"CONSORTIUM_AS": "alpha"})):
        read = CliRunner().invoke(
            cli, ["--dir", str(directory), "--passphrase-file", str(running.passphrase_file), *named, "member", "list"],
            env=env,
        )  # fmt: skip
        assert read.exit_code == 0 and "alpha" in read.output, (named, env, read.output, read.exception)
    nobody = run(running, "--as", "nobody", "member", "list")
    assert nobody.exit_code == 1 and "holds no admin identity of nobody" in nobody.output, nobody.output
    # the summary's hints name the operator as the reader, and work as printed
    hint = next(line for line in running.summary if line.strip().endswith(" grant list"))
    hint_argv = hint.strip().removeprefix("try").split()
    assert hint_argv[:3] == ["consortium", "--dir", str(directory)] and hint_argv[-4:-2] == ["--as", "op"], hint
    hinted = CliRunner().invoke(cli, ["--passphrase-file", str(running.passphrase_file), *hint_argv[1:]])
    assert hinted.exit_code == 0 and "quotes" in hinted.output, (hinted.output, hinted.exception)
    as_alpha = [
        "--chain-cert",
        str(admin / "signcerts" / "cert.pem"),
        "--chain-key",
        str(admin / "keystore" / "key.pem"),
    ]
    status = run(running, *as_alpha, "chain", "status", "--json")
    assert status.exit_code == 0, (status.output, status.exception)
    rows = [json.loads(line) for line in status.output.splitlines()]
    assert len(rows) == 2 and all("error" not in r and r["head"] > 0 for r in rows), rows
    # The alarm probe asks the nodes with the operator's chain@ certificate, as `up` gives its evaluator.
    op = directory / "orgs" / "op" / "users" / f"{CHAIN_IDENTITY}@op" / "msp"
    node_tls = client_tls(description, op / "signcerts" / "cert.pem", op / "keystore" / "key.pem", None,
                          PASSPHRASE.encode())  # fmt: skip
    targets = targets_of(description, {}, None, {}, [NodeTarget("op", True, running.node)])
    prober = Prober(targets, node_tls=node_tls)
    try:
        assert [n.up for n in prober.probe().nodes] == [True]
    finally:
        prober.close()
    # A transaction signed --as op presents op's admin certificate from the directory, with no option.
    proposed = run(running, "member", "propose", "threshold", "1", "--as", "op")
    assert proposed.exit_code == 0, (proposed.output, proposed.exception)
    assert "proposal #" in proposed.output, proposed.output

    # The explorer indexes the chain it reads over TLS (its figures go to a logged-in person).
    token = next((directory / "explorer" / "logins").glob("*.token")).read_text().strip()
    explorer = f"http://127.0.0.1:{running.up.port + 60}/healthz"

    def indexed() -> int | None:
        figures = httpx.get(explorer, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        head = figures.get("chain_indexed")
        return head if isinstance(head, int) and head > 0 else None

    wait_until(indexed, "the explorer to index blocks of the members-only node", FOLLOW_TIMEOUT, every=0.2)

    # The explorer follows the notary's log over mutual TLS (the operator's log@ identity).
    def logged() -> int | None:
        figures = httpx.get(explorer, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        size = figures.get("indexed_size")
        return size if isinstance(size, int) and size > 0 else None

    wait_until(logged, "the explorer to index the log of the members-only notary", FOLLOW_TIMEOUT, every=0.2)
    # The alarm probe finds the notary up with the operator's log@ identity, as `up` gives its evaluator.
    op_log = notary_client_tls(directory, description, "op", PASSPHRASE.encode())
    prober = Prober(targets_of(description, {}, notary, {}, []), notary_tls=op_log)
    try:
        probed = prober.probe().notary
        assert probed is not None and probed.up, probed
    finally:
        prober.close()
    # The CLI verifies the log with a member's certificate (alpha's log@ identity, which its services use).
    alpha_log = directory / "orgs" / "alpha" / "users" / "log@alpha" / "msp"
    notary_client_tls(directory, description, "alpha", PASSPHRASE.encode())  # issued at its first use
    verified = run(running, "verify", "log", notary, "--consortium", str(directory / "consortium.json"), "--no-chain",
                   "--no-state", "--cert", str(alpha_log / "signcerts" / "cert.pem"),
                   "--key", str(alpha_log / "keystore" / "key.pem"),
                   "--passphrase-file", str(running.passphrase_file))  # fmt: skip
    assert verified.exit_code == 0, (verified.output, verified.exception)
    assert "verified" in verified.output, verified.output


FIRM_PASSPHRASE = "the firm's own passphrase"


def joining_firm(running: Running, tmp_path: Path, org: str) -> tuple[Path, Callable[..., Result]]:
    """A firm's new directory (``tmp_path/org``, not made yet) with the public consortium.json beside it
    (``tmp_path/consortium.json``) and its own passphrase file, and the CLI run from it."""
    (tmp_path / "consortium.json").write_text((running.directory / "consortium.json").read_text())
    pass_file = tmp_path / f"{org}.pass"
    pass_file.write_text(FIRM_PASSPHRASE)
    base = ["--dir", str(tmp_path / org), "--passphrase-file", str(pass_file)]

    def at_firm(*args: str) -> Result:
        return CliRunner().invoke(cli, [*base, *args])

    return tmp_path / org, at_firm


def test_a_firm_joining_through_a_members_only_node_writes_its_request_unchecked(
    running: Running, tmp_path: Path
) -> None:
    """``member join`` from a firm's new directory with only the public consortium.json, whose chain URL is a node
    serving members only: the node refuses the firm (it has no certificate a member trusts), so the request is
    written without the chain's check, and says so; the members' ``member propose admit`` checks it there. The firm's
    own directory then holds one org, whose admin identity its reads present by themselves: the node, which knows no
    CA of the firm's yet, refuses it in the handshake."""
    firm, at_firm = joining_firm(running, tmp_path, "newco")
    joined = at_firm("member", "join", "newco", "--name", "New Co", "--consortium", str(tmp_path / "consortium.json"))
    assert joined.exit_code == 0, (joined.output, joined.exception)
    assert f"not checked against the chain: {running.node} answers members only" in joined.output, joined.output
    assert "member keys publish --sign-only keys.json --as newco" in joined.output, joined.output  # its next step
    # what `member propose admit` checks on chain, read by a member through the same node: the org and its account
    # are not on chain yet (no proposal is made: this consortium admits at one vote, and the tests after need it as
    # it is)
    request = load_request(firm / "admission-request.json")
    assert request.org == "newco", request
    admin = running.directory / "orgs" / "op" / "users" / "Admin@op" / "msp"
    tls = client_tls(load_description(running.directory), admin / "signcerts" / "cert.pem",
                     admin / "keystore" / "key.pem", None, PASSPHRASE.encode())  # fmt: skip
    check_on_chain(request, open_registry(load_description(running.directory), running.node, "consortium.json", tls))
    read = at_firm("member", "list")
    assert read.exit_code == 1 and "refused the TLS handshake" in read.output, (read.output, read.exception)
    assert "member keys publish --sign-only keys.json --as newco" in read.output, read.output  # what to do instead


def test_verify_state_reaches_a_members_only_node_with_a_client_certificate(running: Running) -> None:
    """``verify state`` through the node serving members only: refused without a certificate (exit 2, the node's
    ``no_certificate``), proven with a member's, given as the command's ``--chain-cert``/``--chain-key`` or as the
    root options of the same names."""
    consortium = str(running.directory / "consortium.json")
    admin = running.directory / "orgs" / "alpha" / "users" / "Admin@alpha" / "msp"
    cert, key = str(admin / "signcerts" / "cert.pem"), str(admin / "keystore" / "key.pem")
    args = ["verify", "state", "--consortium", consortium, "--member", "alpha", "--json"]  # at the head
    env = {"CONSORTIUM_PASSPHRASE": PASSPHRASE}
    bare = CliRunner().invoke(cli, args, env=env)
    assert bare.exit_code == 2, bare.output
    assert f"cannot read the chain at {running.node}" in bare.output and "no_certificate" in bare.output, bare.output
    for given in ([*args, "--chain-cert", cert, "--chain-key", key], ["--chain-cert", cert, "--chain-key", key, *args]):
        proven = CliRunner().invoke(cli, given, env=env)
        assert proven.exit_code == 0, (proven.output, proven.exception)
        found = json.loads(proven.output)
        assert found["verified"] is True and found["block"]["number"] > 0, found
        assert found["members"]["alpha"]["status"] == "active", found
    alone = CliRunner().invoke(cli, [*args, "--chain-cert", cert], env=env)
    assert alone.exit_code == 2 and "--chain-cert and --chain-key go together" in alone.output, alone.output


def test_the_settings_file_has_up_serve_the_alarms_over_mutual_tls_to_the_operator_only(running: Running) -> None:
    """``DIR/up.toml`` says ``host = "0.0.0.0"`` with a certificate of its own: `up` says where each setting came
    from and serves the alarms there over mutual TLS. The operator's log@ certificate with the token gets 200 and
    the evaluator's alarms; alpha's certificate 403 with the reason; no certificate no TLS handshake at all; and
    the explorer `up` started reads them from that endpoint."""
    directory = running.directory
    description = load_description(directory)
    settings = directory / SETTINGS_FILE
    said = "\n".join(running.up.stdout)  # the settings' lines come before the summary
    assert f"settings   {settings}: alarms.host, alarms.tls_cert, alarms.tls_key, alarms.interval_s" in said, said
    assert f"alarms host {ALARMS_HOST} ({settings} alarms.host)" in said, said
    url = f"https://127.0.0.1:{running.up.port + 3}/v1/alarms"
    assert f"{url} over mutual TLS to a certificate of op" in said, said
    token = api_token(directory)
    assert token is not None
    bearer = {"Authorization": f"Bearer {token}"}

    def presenting(org: str | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=ca_bundle_pem(description))
        if org is not None:
            paths = user_paths(directory, OrgId(org), LOG_IDENTITY)
            if not paths.cert.is_file():
                issue_identity(directory, OrgId(org), LOG_IDENTITY, PASSPHRASE.encode())
            context.load_cert_chain(paths.cert, paths.key, password=PASSPHRASE)
        return context

    def evaluated() -> dict[str, object] | None:
        answer = httpx.get(url, headers=bearer, verify=presenting("op"), timeout=10)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        return document if isinstance(document.get("evaluated_ms"), int) else None

    document = wait_until(evaluated, "the alarm endpoint to serve an evaluated round", FOLLOW_TIMEOUT, every=0.5)
    assert document["format"] == "consortium-ledger/alarms/v1", document
    assert isinstance(document["active"], list) and isinstance(document["resolved"], list), document
    for alarm in document["active"]:
        assert isinstance(alarm, dict) and alarm["id"] == f"{alarm['rule']}:{alarm['subject']}", alarm
    # the operator's certificate without the token: 401
    bare = httpx.get(url, verify=presenting("op"), timeout=10)
    assert bare.status_code == 401, bare.text
    # another member's certificate, the token with it: 403 with the reason, no alarm
    other = httpx.get(url, headers=bearer, verify=presenting("alpha"), timeout=10)
    assert other.status_code == 403, other.text
    assert "a certificate of alpha may not read them" in other.json()["detail"], other.text
    assert "active" not in other.json()
    # no client certificate: the handshake is refused, no HTTP answer at all
    with pytest.raises(httpx.TransportError):
        httpx.get(url, headers=bearer, verify=presenting(None), timeout=10)

    # up's explorer reads the alarms from that endpoint over https (source endpoint), live once evaluated
    login = next((directory / "explorer" / "logins").glob("*.token")).read_text().strip()
    explorer = f"http://127.0.0.1:{running.up.port + 60}/api/v1/alarms"

    def live() -> dict[str, object] | None:
        view = httpx.get(explorer, headers={"Authorization": f"Bearer {login}"}, timeout=10).json()
        return view if view.get("status") == "live" else None

    view = wait_until(live, "the explorer to read the live alarms from the endpoint", FOLLOW_TIMEOUT, every=0.5)
    assert view["source"] == "endpoint" and view["error"] is None, view


def test_a_leaked_client_certificate_revoked_on_chain_is_refused_by_the_node_at_once_and_by_the_gateway(
    running: Running,
) -> None:
    """alpha revokes a leaked client certificate with ``member keys revoke --cert`` against the running `up`: the
    members-only node refuses it at the first request after the revoking transaction's receipt, with no wait (it
    reads the directory again whenever its head moved); op's gateway refuses it ``certificate_revoked`` (403 once
    the handshake is done) once its view has read that block; a colleague's certificate is still served by both."""
    directory = running.directory
    description = load_description(directory)
    gateway = f"https://localhost:{running.up.port + 20}{ROUTE}"
    issued = run(running, "identity", "issue", "--org", "alpha", "--name", "leaked")
    assert issued.exit_code == 0, (issued.output, issued.exception)

    def presenting(name: str) -> ssl.SSLContext:
        paths = user_paths(directory, OrgId("alpha"), name)
        context = ssl.create_default_context(cadata=ca_bundle_pem(description))
        context.load_cert_chain(paths.cert, paths.key, password=PASSPHRASE)
        return context

    def node(name: str) -> int | str:
        """The node's status for a JSON-RPC request presenting ``name``'s certificate; "closed" if it answered none."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        try:
            return httpx.post(running.node, json=body, verify=presenting(name), timeout=10).status_code
        except httpx.TransportError:
            return "closed"

    def call(name: str) -> httpx.Response:
        headers = {"Consortium-Purpose": "trading"}
        params = {"symbol": "600519.SH"}
        return httpx.get(gateway, params=params, headers=headers, verify=presenting(name), timeout=10)

    assert node("leaked") == 200
    assert call("leaked").status_code == 200
    leaked = user_paths(directory, OrgId("alpha"), "leaked").cert
    revoked = run(running, "member", "keys", "revoke", "--cert", str(leaked), "--as", "alpha")
    assert revoked.exit_code == 0 and "revoked serial" in revoked.output, (revoked.output, revoked.exception)
    assert node("leaked") in (403, "closed")  # no wait: the block that revoked it is the node's head
    # a new connection: refused once the handshake is done (403 with the reason, the connection closed)
    refused = wait_until(
        lambda: r if (r := call("leaked")).status_code == 403 else None,
        "op's gateway to refuse the revoked certificate",
        FOLLOW_TIMEOUT,
        every=0.1,
    )
    assert "certificate_revoked" in refused.text, refused.text
    assert node("client") == 200 and call("client").status_code == 200


def test_the_operators_gateway_key_rotates_under_calls_with_no_batch_refused(running: Running) -> None:
    """``consortium gateway rotate-key --as op --from-block N --overlap-blocks K`` against the running `up`, with
    calls through op's gateway before the rotation, in the window before block N, across the switch and after the
    old key retired: every call is answered and its event shipped (no batch refused, the outbox drained, every
    event in the notary's log, no gap in the gateway's sequence); the gateway's admin ``/healthz`` names the old key
    before block N and the new one from it, with no restart; an SDK client of op made in the window starts from the
    key kept (``keys/gateway.previous.pem``) and reads the calls' receipts and evidence; a follower removes the kept
    file once the old key retired, not before; `up`'s explorer, whose reads of the notary are signed with op's key,
    indexes the log past the last call. After the cases that use op's key as `init` made it; before the one that
    ends alpha's gateway key and the log's key.

    `up`'s chain seals a block only for a transaction (the notary's anchors, every few seconds while calls come):
    the test moves it to block N and to the retirement with transactions of its own (alpha's account sends itself
    nothing), once the gateway signs with the new key for the second."""
    directory = running.directory
    description = load_description(directory)
    port = running.up.port
    notary = f"https://127.0.0.1:{port + 1}"
    gateway = f"https://localhost:{port + 20}"
    admin = f"http://127.0.0.1:{port + 40}/healthz"  # the gateway's admin endpoint (its port + 20), loopback
    paths = OrgPaths.of(directory, OrgId("op"))
    gateway_log = directory / "gateways" / "op" / "gateway.log"
    log_start = gateway_log.stat().st_size
    alpha = directory / "orgs" / "alpha" / "users" / "Admin@alpha" / "msp"
    node_tls = client_tls(description, alpha / "signcerts" / "cert.pem", alpha / "keystore" / "key.pem", None,
                          PASSPHRASE.encode())  # fmt: skip
    chain = Consortium.open(directory, running.node, node_tls)
    ticker = chain.signer("alpha", PASSPHRASE.encode())

    def chain_head() -> int:
        """The node's head: the gateway's view of the chain is at or behind it."""
        return int(chain.backend.web3.eth.block_number)

    def tick_to(block: int) -> None:
        """One block more (a transaction of alpha's to itself) unless the chain is at ``block`` already."""
        if chain_head() < block:
            transact(chain.backend, ticker, ticker.address, "0x", label="tick")

    def health() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(admin, timeout=10).json()
        return answer

    old = paths.gateway_pub.read_text().strip()
    assert health()["shipper"]["key"] == old
    gateway_id = health()["gateway"]
    events: list[str] = []
    with MemberClient.from_directory(
        directory, "alpha", name="client", passphrase=PASSPHRASE.encode(), notary_url=notary
    ) as caller:

        def call() -> str:
            """One call through op's gateway, answered and recorded; the key the gateway signs with after it."""
            result = caller.call(gateway, "GET", ROUTE, purpose="trading", params={"symbol": "600519.SH"})
            assert result.status == 200, (result.status, result.content[:300])
            assert result.event_id is not None
            events.append(result.event_id)
            key: str = health()["shipper"]["key"]
            if key != old:  # the gateway's view of the chain, at or behind the node's head, has reached block N
                assert key == new and chain_head() >= valid_from, (key, valid_from)
            return key

        call()
        call()
        # Block N a few blocks ahead: the rotation's two transactions, and maybe an anchor, come before it.
        start = chain_head()
        rotated = run(running, "gateway", "rotate-key", "--as", "op", "--from-block", str(start + OVERLAP + 1),
                      "--overlap-blocks", str(OVERLAP), "--json")  # fmt: skip
        assert rotated.exit_code == 0, (rotated.output, rotated.exception)
        rotation = json.loads(rotated.output)
        new: str = rotation["new"]["public_key"]
        valid_from: int = rotation["new"]["valid_from"]
        retired_at: int = rotation["old"]["valid_until"]
        assert rotation["old"]["public_key"] == old and new != old, rotation
        assert (valid_from, retired_at) == (start + OVERLAP + 1, start + 2 * OVERLAP + 1), rotation
        assert paths.gateway_pub.read_text().strip() == new and paths.gateway_key_previous.is_file()

        # In the window: a client of op made now starts from the kept key (the file's is not valid yet).
        window = MemberClient.from_directory(directory, "op", name="client", passphrase=PASSPHRASE.encode(),
                                             notary_url=notary)  # fmt: skip
        with window:
            made_at = chain_head()
            assert made_at < valid_from, f"the client was made after the window (block {made_at}, N {valid_from})"
            reads = window.notary_auth
            assert isinstance(reads, SignedReads) and public_bytes(reads.key).hex() == old
            assert call() == old
            in_window = events[-1]
            assert window.receipt(in_window, wait_s=30).event_id == in_window

            # Across the switch: calls, a block more each, until the gateway's /healthz names the new key (which
            # call() checks is from block N on).
            def switched() -> bool:
                tick_to(valid_from)
                return call() == new

            wait_until(switched, "the gateway to sign with the new key", FOLLOW_TIMEOUT, every=0.05)

            # Past the old key's retirement: calls, a block more each, until a follower removed the kept key, which
            # it keeps until then.
            def removed() -> bool:
                tick_to(retired_at)
                call()
                if paths.gateway_key_previous.exists():
                    return False
                assert chain_head() >= retired_at, f"the kept key was removed before block {retired_at}"
                return True

            wait_until(removed, "the kept key to be removed once retired", FOLLOW_TIMEOUT, every=0.05)
            call()

            # Every call shipped: the outbox drained, no batch refused, the notary holds every event, no gap.
            def drained() -> dict[str, Any] | None:
                outbox: dict[str, Any] = health()["outbox"]
                return outbox if outbox["pending"] == 0 and outbox["shipped_seq"] == outbox["last_seq"] else None

            outbox = wait_until(drained, "the gateway's outbox to drain", FOLLOW_TIMEOUT, every=0.1)
            shipper = health()["shipper"]
            assert shipper["key"] == new and not shipper["refused"], shipper
            said = gateway_log.read_bytes()[log_start:].decode(errors="replace")
            assert "notary refused a batch" not in said, said
            assert f"signs its batches with its new key {new} from now on" in said, said
            op_log = notary_client_tls(directory, description, "op", PASSPHRASE.encode())
            gaps = httpx.get(f"{notary}/v1/gaps", verify=op_log, timeout=10).json()
            assert gaps["last_seq"][gateway_id] == outbox["last_seq"], gaps
            assert [g for g in gaps["gaps"] if g["gateway"] == gateway_id] == [], gaps
            # The client made in the window reads every call's receipt, now with the new key, and the evidence.
            indices = [window.receipt(e, wait_s=30).index for e in events]
            assert len(set(indices)) == len(events), indices
            assert public_bytes(reads.key).hex() == new
            bundle = window.evidence(in_window, wait_s=120)
            assert bundle.checkpoint is not None and json.loads(bundle.entry)["decision"] == "allow", bundle

    # The explorer reads the notary with op's key, rotated under it: it indexes the log past the last call.
    token = next((directory / "explorer" / "logins").glob("*.token")).read_text().strip()
    explorer = f"http://127.0.0.1:{port + 60}/healthz"

    def indexed() -> bool:
        figures = httpx.get(explorer, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        size = figures.get("indexed_size")
        return isinstance(size, int) and size > max(indices)

    wait_until(indexed, "the explorer to index the log past the last call", FOLLOW_TIMEOUT, every=0.2)


def test_alphas_ca_rotates_under_calls_through_the_gateway_and_its_old_certificates_are_refused_once_retired(
    running: Running, tmp_path: Path
) -> None:
    """``consortium identity rotate-ca --as alpha --from-block N --overlap-blocks K`` against the running `up`, then
    the same command again from block N, with alpha's calls through op's gateway all along: a client made before the
    rotation (the old CA's certificate, then the re-issued one from its next connection) is served before block N,
    in the overlap and until the old CA retires; a client made once the certificates were re-issued is served from
    then on, and
    the members-only node answers the new certificate too; from the retirement block the old certificate is refused
    by the gateway (``unknown_issuer``, once its view read that block) and by the node, the new one served. No call
    expected to succeed fails, and nothing restarts. First, a block in the past is refused with one line, nothing
    written or sent; last, op's gateway presents its own TLS certificate issued again in place (``identity
    server-cert``) from a handshake a look later, as it would one its CA's rotation re-issued. After the gateway
    key's rotation (op's, untouched here);
    before the compromise case, whose alpha certificates are then the new CA's.

    As for the gateway key, `up`'s chain seals a block only for a transaction: the regulator's account ticks it to
    blocks N and N + K (its admin certificate reaches the node, its CA does not change; op's account anchors for the
    notary meanwhile, so it would race for nonces)."""
    directory = running.directory
    description = load_description(directory)
    port = running.up.port
    gateway = f"https://localhost:{port + 20}"
    admin = f"http://127.0.0.1:{port + 40}/healthz"
    reg = directory / "orgs" / "reg" / "users" / "Admin@reg" / "msp"
    node_tls = client_tls(description, reg / "signcerts" / "cert.pem", reg / "keystore" / "key.pem", None,
                          PASSPHRASE.encode())  # fmt: skip
    chain = Consortium.open(directory, running.node, node_tls)
    ticker = chain.signer("reg", PASSPHRASE.encode())
    client = user_paths(directory, OrgId("alpha"), "client")
    old_cert = tmp_path / "old-cert.pem"  # the certificate of the old CA, as a caller made before keeps it
    old_cert.write_bytes(client.cert.read_bytes())

    def chain_head() -> int:
        return int(chain.backend.web3.eth.block_number)

    def tick_to(block: int) -> None:
        while chain_head() < block:
            transact(chain.backend, ticker, ticker.address, "0x", label="tick")

    def gateway_read(block: int) -> None:
        """Wait until op's gateway's view of the TrustDirectory answers for ``block`` (its /healthz)."""
        wait_until(lambda: httpx.get(admin, timeout=10).json()["trust"]["head"] >= block,
                   f"op's gateway's trust view to read block {block}", FOLLOW_TIMEOUT, every=0.05)  # fmt: skip

    def presenting(cert: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=ca_bundle_pem(description))
        context.load_cert_chain(cert, client.key, password=PASSPHRASE)
        return context

    def node(cert: Path) -> int | str:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        try:
            return httpx.post(running.node, json=body, verify=presenting(cert), timeout=10).status_code
        except httpx.TransportError:
            return "closed"

    served = 0

    def call(caller: MemberClient) -> None:
        nonlocal served
        result = caller.call(gateway, "GET", ROUTE, purpose="trading", params={"symbol": "600519.SH"})
        assert result.status == 200, (result.status, result.content[:300])
        served += 1

    # refused with one line and nothing written or sent: a block in the past
    records = len(chain.trust.records("alpha"))
    past = run(running, "identity", "rotate-ca", "--as", "alpha", "--from-block", "0")
    assert past.exit_code == 1 and "is in the past" in past.output, (past.output, past.exception)
    assert len(past.output.strip().splitlines()) == 1, past.output
    assert not (client.cert.parents[4] / "ca" / "ca-cert.next.pem").exists()
    assert len(chain.trust.records("alpha")) == records

    with MemberClient.from_directory(directory, "alpha", name="client", passphrase=PASSPHRASE.encode()) as before:
        call(before)
        start = chain_head()
        staged = run(running, "identity", "rotate-ca", "--as", "alpha", "--from-block", str(start + OVERLAP + 1),
                     "--overlap-blocks", str(OVERLAP), "--json")  # fmt: skip
        assert staged.exit_code == 0, (staged.output, staged.exception)
        rotation = json.loads(staged.output)
        valid_from: int = rotation["new"]["valid_from"]
        retired_at: int = rotation["old"]["valid_until"]
        assert not rotation["installed"] and (valid_from, retired_at) == (start + OVERLAP + 1, start + 2 * OVERLAP + 1)
        assert client.cert.read_bytes() == old_cert.read_bytes()  # nothing re-issued before block N
        call(before)

        tick_to(valid_from)
        gateway_read(valid_from)
        installed = run(running, "identity", "rotate-ca", "--as", "alpha", "--json")
        assert installed.exit_code == 0, (installed.output, installed.exception)
        assert json.loads(installed.output)["installed"], installed.output
        assert client.cert.read_bytes() != old_cert.read_bytes()
        call(before)  # the overlap: the old CA's certificate, loaded before, still served
        with MemberClient.from_directory(directory, "alpha", name="client", passphrase=PASSPHRASE.encode()) as after:
            call(after)
            assert node(client.cert) == 200
            call(before)

            tick_to(retired_at)
            gateway_read(retired_at)
            call(after)  # the new CA's certificate, served after the retirement
            assert node(client.cert) == 200
    assert served == 6, served  # every call expected to be served was
    assert node(old_cert) in (403, "closed")
    headers, params = {"Consortium-Purpose": "trading"}, {"symbol": "600519.SH"}
    refused = httpx.get(f"{gateway}{ROUTE}", params=params, headers=headers, verify=presenting(old_cert), timeout=10)
    assert refused.status_code == 403 and "unknown_issuer" in refused.text, (refused.status_code, refused.text)

    # the servers follow their own certificate's file as the clients do: op's gateway's, issued again in place (as a
    # rotation of op's CA would), is presented from a handshake a look later, with no restart
    op_tls = directory / "orgs" / "op" / "gateway" / "tls" / "cert.pem"
    again = run(running, "identity", "server-cert", "--org", "op", "--service", "gateway")
    assert again.exit_code == 0, (again.output, again.exception)
    serial = x509.load_pem_x509_certificates(op_tls.read_bytes())[0].serial_number

    def presented() -> int:
        pem = ssl.get_server_certificate(("localhost", port + 20), timeout=10)
        return x509.load_pem_x509_certificate(pem.encode("ascii")).serial_number

    wait_until(lambda: presented() == serial, "op's gateway to present its certificate issued again", FOLLOW_TIMEOUT,
               every=0.1)  # fmt: skip


def test_a_gateway_key_declared_compromised_counts_only_before_and_evidence_after_a_log_keys_compromise_fails(
    running: Running, tmp_path: Path
) -> None:
    """A regulator declares alpha's gateway key compromised as of block R with ``member keys compromise`` against the
    running `up`: once the notary's view of the chain has it (a read signed with that key is refused), a batch that
    key signs with every event dated inside its valid window, before R's time, is logged; one with an event dated at
    R's time is refused 401 (``CompromisedKeyError``'s message) and nothing of it is written. Then the log's key:
    declared compromised as of the block that anchored one bundle, ``verify evidence`` passes a bundle anchored
    before and fails that one, saying which key, which block, why.

    Last in the module, after the operator's rotation: it ends alpha's gateway key and the log's key on chain,
    which the cases before it use. The batches are the notary's API as a gateway sends them (``alpha/probe``,
    signed with alpha's key from the directory); alpha runs no gateway under `up`."""
    directory = running.directory
    description = load_description(directory)
    notary = f"https://127.0.0.1:{running.up.port + 1}"
    alpha_admin = directory / "orgs" / "alpha" / "users" / "Admin@alpha" / "msp"
    chain_cert = ["--chain-cert", str(alpha_admin / "signcerts" / "cert.pem"),
                  "--chain-key", str(alpha_admin / "keystore" / "key.pem")]  # fmt: skip
    node_tls = client_tls(description, alpha_admin / "signcerts" / "cert.pem", alpha_admin / "keystore" / "key.pem",
                          None, PASSPHRASE.encode())  # fmt: skip
    chain = Consortium.open(directory, running.node, node_tls)
    web3 = chain.backend.web3
    as_reg = notary_client_tls(directory, description, "reg", PASSPHRASE.encode())  # a regulator reads every event
    as_alpha = notary_client_tls(directory, description, "alpha", PASSPHRASE.encode())

    def bundle_of(event_id: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{notary}/v1/evidence/{event_id}", verify=as_reg, timeout=10)
        if answer.status_code != 200:
            return None
        document: dict[str, Any] = answer.json()
        return document if document.get("anchor") is not None else None

    # A bundle anchored long before: the log's first event, proven under the first anchor that covers it.
    first = httpx.get(f"{notary}/v1/events", params={"from": 0, "limit": 1}, verify=as_reg, timeout=10).json()
    early = wait_until(lambda: bundle_of(first["events"][0]["event_id"]), "the first event's anchored bundle",
                       FOLLOW_TIMEOUT, every=0.2)  # fmt: skip

    # alpha's gateway key, declared compromised as of the head (block R) by the regulator, from the command line.
    key = load_gateway_key(directory, OrgId("alpha"), PASSPHRASE.encode())
    record = next(r for r in chain.trust.records("alpha") if r.kind is KeyKind.GATEWAY_KEY)
    assert record.value == public_bytes(key) and record.valid_until is None, record
    as_of = int(web3.eth.block_number)
    compromised_ms = int(web3.eth.get_block(as_of)["timestamp"]) * 1000
    declared = run(running, "member", "keys", "compromise", "alpha", str(record.index),
                   "--as-of-block", str(as_of), "--as", "reg")  # fmt: skip
    assert declared.exit_code == 0, (declared.output, declared.exception)
    ended = chain.trust.record("alpha", record.index)
    assert ended is not None and (ended.state, ended.valid_until) == (KeyState.COMPROMISED, as_of), ended

    def refuses_the_key() -> bool:
        """The notary's view has the compromise: a read signed with the key (which changes nothing) is refused."""
        headers = sign_read("alpha/probe", key, "GET", "/v1/gaps", time.time())
        return httpx.get(f"{notary}/v1/gaps", headers=headers, verify=as_alpha, timeout=10).status_code == 401

    wait_until(refuses_the_key, "the notary to see the gateway key's compromise", FOLLOW_TIMEOUT, every=0.1)

    def send(seq: int, *times_ms: int) -> httpx.Response:
        fields = {"caller_org": "op", "provider_org": "alpha", "gateway_id": "alpha/probe"}
        events = [
            event(event_id=f"compromise-{seq + i}", time_ms=t, gateway_seq=seq + i, **fields)
            for i, t in enumerate(times_ms)
        ]
        body, headers = batch_request("alpha/probe", events, key)
        return httpx.post(f"{notary}/v1/batches", content=body, headers=headers, verify=as_alpha, timeout=30)

    def last_seq() -> int | None:
        gaps = httpx.get(f"{notary}/v1/gaps", verify=as_alpha, timeout=10).json()
        seq: int | None = gaps["last_seq"].get("alpha/probe")
        return seq

    # (a) every event dated within the key's valid window, before block R's time: logged
    taken = send(1, compromised_ms - 1500, compromised_ms - 1)
    assert taken.status_code == 200, taken.text
    assert last_seq() == 2
    # (b) one event dated at R's time refuses the whole batch, 401, nothing written
    refused = send(3, compromised_ms - 1, compromised_ms)
    assert refused.status_code == 401, refused.text
    error = refused.json()["error"]
    assert f"declared compromised as of block {as_of}" in error and "nothing logged" in error, error
    assert "compromise-4" in error and "gateway rotate-key" in error, error
    assert last_seq() == 2
    for unwritten in ("compromise-3", "compromise-4"):
        answer = httpx.get(f"{notary}/v1/evidence/{unwritten}", verify=as_reg, timeout=10)
        assert answer.status_code == 404, answer.text

    def verify(bundle: dict[str, Any], name: str) -> Result:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        return run(running, "verify", "evidence", str(path), "--consortium", str(directory / "consortium.json"),
                   *chain_cert)  # fmt: skip

    # The log's key: a bundle anchored now (after op's gateway key rotated, its event under alpha's key declared
    # compromised) verifies; then the log's key is declared compromised as of that anchor's block.
    late = wait_until(lambda: bundle_of("compromise-1"), "the logged event's anchored bundle", 120, every=0.2)
    early_block, late_block = early["anchor"]["block"]["number"], late["anchor"]["block"]["number"]
    assert early_block < late_block, (early_block, late_block)
    passed = verify(late, "late")
    assert passed.exit_code == 0, (passed.output, passed.exception)
    log_key = next(
        r
        for r in chain.trust.records("op")
        if r.kind is KeyKind.LOG_KEY and r.state is KeyState.OPEN and r.valid_at(late_block)
    )
    declared = run(running, "member", "keys", "compromise", "op", str(log_key.index),
                   "--as-of-block", str(late_block), "--as", "reg")  # fmt: skip
    assert declared.exit_code == 0, (declared.output, declared.exception)

    before = verify(early, "before")
    assert before.exit_code == 0, (before.output, before.exception)
    assert f"evidence of {early['event_id']!r} verified" in before.output, before.output
    after = verify(late, "after")
    assert after.exit_code == 1, (after.output, after.exception)
    said = after.output
    assert "evidence of 'compromise-1' does NOT verify" in said, said
    assert f"not valid at its anchor's block {late_block}" in said and "(declared compromised)" in said, said
    assert f"compromised as of block {late_block}, at or before block {late_block}" in said, said


def test_an_admitted_firm_has_a_member_relay_its_signed_keys_then_reaches_the_nodes_itself(
    running: Running, tmp_path: Path
) -> None:
    """Last of the module (it admits a member): a firm joins through the members-only node, signs its key
    publication in its own directory with no chain (``member keys publish --sign-only``), and a member sends it
    (``member keys relay``): refused while the firm is not a member, sent once it is admitted, then the node trusts
    the firm's CA and the firm reads through it with its own admin identity, and the notary completes a handshake
    with its log@ identity, which it refused before; the same file again is refused."""
    firm, at_firm = joining_firm(running, tmp_path, "delta")
    copy = tmp_path / "consortium.json"
    joined = at_firm("member", "join", "delta", "--name", "Delta", "--consortium", str(copy), "--roles", "member")
    assert joined.exit_code == 0 and "not checked against the chain" in joined.output, joined.output
    keys = tmp_path / "delta-keys.json"
    signed = at_firm("member", "keys", "publish", "--as", "delta", "--sign-only", str(keys))
    assert signed.exit_code == 0, (signed.output, signed.exception)
    assert "signed 3 key(s) of delta (ca-cert, account, gateway-key), nonces 0 to 2" in signed.output, signed.output

    early = run(running, "member", "keys", "relay", str(keys), "--as", "op")
    assert early.exit_code == 1 and "is no member's on chain, not delta's" in early.output, early.output
    request = load_request(firm / "admission-request.json")
    admitted = run(running, "member", "propose", "admit", "--request", str(firm / "admission-request.json"),
                   "--ca-fingerprint", "0x" + request.ca_fingerprint.hex(), "--as", "op")  # fmt: skip
    proposal = re.search(r"proposal #(\d+) created", admitted.output)
    assert admitted.exit_code == 0 and proposal is not None, admitted.output
    if "awaiting approvals" in admitted.output:  # the first test's `propose threshold 1` may have left it at one vote
        approved = run(running, "member", "approve", proposal.group(1), "--request",
                       str(firm / "admission-request.json"), "--as", "alpha")  # fmt: skip
        assert approved.exit_code == 0 and "carried out" in approved.output, approved.output
    assert json.loads(run(running, "--as", "op", "member", "show", "delta", "--json").output)["status"] == "active"
    refused = at_firm("member", "keys", "publish", "--as", "delta")  # its CA is not on chain: no handshake
    assert refused.exit_code == 1 and "refused the TLS handshake" in refused.output, refused.output
    assert "member keys relay keys.json --as MEMBER" in refused.output, refused.output

    # the notary requires a member's certificate in the handshake: the firm's log@ identity (issued by its CA, as its
    # gateway would present it) is refused while its CA is not on chain
    notary = f"https://127.0.0.1:{running.up.port + 1}"
    as_delta = notary_client_tls(firm, load_description(firm), "delta", FIRM_PASSPHRASE.encode())
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{notary}/checkpoint", verify=as_delta, timeout=10)

    relayed = run(running, "member", "keys", "relay", str(keys), "--as", "op")
    assert relayed.exit_code == 0, (relayed.output, relayed.exception)
    assert "added #0 ca-cert" in relayed.output and "3 key(s) of delta sent" in relayed.output, relayed.output
    # the nodes read the block that holds its CA: the firm's own certificate passes, with no option (the one org of
    # its directory)
    listed = wait_until(
        lambda: r if (r := at_firm("member", "list")).exit_code == 0 else None,
        "the node to admit the firm's certificate",
        FOLLOW_TIMEOUT,
        every=0.2,
    )
    assert "delta" in listed.output, listed.output
    # and the notary, following the chain's CAs, completes its handshake and answers it as a member
    checkpoint = wait_until(
        lambda: r if (r := httpx.get(f"{notary}/checkpoint", verify=as_delta, timeout=10)).status_code == 200 else None,
        "the notary to admit the firm's log@ certificate",
        FOLLOW_TIMEOUT,
        every=0.2,
        ignoring=(httpx.TransportError,),
    )
    assert checkpoint.text.startswith("rpc-tls-test/"), checkpoint.text
    published = at_firm("member", "keys", "publish", "--as", "delta")
    assert published.exit_code == 0 and "every key of delta is already on chain" in published.output, published.output
    again = run(running, "member", "keys", "relay", str(keys), "--as", "op")
    assert again.exit_code == 1 and "every key of the publication is already on chain" in again.output, again.output
