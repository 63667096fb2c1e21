"""A chain node serving its JSON-RPC to members only, as a real process over real TLS on loopback.

``consortium init`` makes a consortium of four (``op`` runs the node, ``alpha``, ``beta``, the regulator ``reg``);
``consortium node DIR --rpc-cert --rpc-key --rpc-public eth_chainId,eth_blockNumber`` serves it with the node
certificate ``network.identity`` issues. A member's certificate (an admin's, a person's) reads blocks and logs
and sends a transaction through ``chain.backend.RpcBackend`` and the CLI's ``--chain-cert``; without a
certificate, with a certificate of a CA no member holds, one claiming another org, one revoked by its org's CRL,
and one of an org governance suspended, then removed, each gets the clear refusal; the public subset answers
anyone, and nothing else does; option combinations that cannot run stop the node at start with one line.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth_account import Account

from chain.backend import ClientTls, RpcBackend
from chain.errors import BackendError
from chain.ids import OrgId
from cli.main import cli
from network.certificates import ca_bundle_pem
from network.config import parse_config
from network.consortium import init_consortium
from network.description import ConsortiumDescription, load_description
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_node_certificate,
    load_account_key,
    revoke_identity,
    user_paths,
)
from network.localchain import free_port, launch_node, stop_together
from network.nodeaccess import client_tls
from network.nodes import default_chain_dir
from tests.support.small_consortium import three_member_config
from tests.support.wait import wait_until

PASSPHRASE = b"rpc-members-passphrase"
CHAIN_ID = 20271
PUBLIC = ("eth_chainId", "eth_blockNumber")
START_TIMEOUT = 60.0
DEADLINE = 30.0
GET_BLOCK = {"jsonrpc": "2.0", "id": 7, "method": "eth_getBlockByNumber", "params": ["latest", True]}

pytestmark = pytest.mark.slow


def config() -> dict[str, Any]:
    """The three-member consortium and ``beta``, a member governance removes in the last test."""
    document = three_member_config("rpc-members", CHAIN_ID)
    document["members"].append({"org": "beta", "name": "Beta Securities", "roles": ["member", "witness"]})
    return document


@dataclass
class World:
    directory: Path
    description: ConsortiumDescription
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    certs: dict[str, tuple[Path, Path]]

    def server_ca(self) -> ssl.SSLContext:
        """A client context trusting the member CAs (the node's certificate is op's), with no certificate."""
        return ssl.create_default_context(cadata=ca_bundle_pem(self.description))

    def tls(self, who: str) -> ClientTls:
        cert, key = self.certs[who]
        return client_tls(self.description, cert, key, None, PASSPHRASE)

    def client(self, who: str | None) -> httpx.Client:
        verify = self.server_ca() if who is None else self.tls(who).context()
        return httpx.Client(verify=verify, timeout=DEADLINE)

    def post(self, who: str | None, payload: Any) -> httpx.Response:
        with self.client(who) as client:
            return client.post(self.url, json=payload)


def claiming_another_org(directory: Path, out: Path) -> tuple[Path, Path]:
    """A clientAuth certificate issued by alpha's CA that names ``reg`` as its org (OU): a member's CA cannot
    vouch for another member's people."""
    paths = OrgPaths.of(directory, OrgId("alpha"))
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASSPHRASE)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "reg"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "mallory@reg")])  # fmt: skip
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = out / "mallory.pem", out / "mallory.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = serialization.BestAvailableEncryption(PASSPHRASE)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert_path, key_path


def answering(world: World) -> bool:
    """Whether the node answers a public method over TLS (it is up)."""
    if world.process.poll() is not None:
        raise AssertionError(f"the node exited: {world.log.read_text(errors='replace')[-1500:]}")
    return bool(world.post(None, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).status_code)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("rpc-members")
    directory = root / "consortium"
    init_consortium(directory, parse_config(config()), PASSPHRASE)
    node_cert, node_key = issue_node_certificate(directory, OrgId("op"), PASSPHRASE)
    issue_identity(directory, OrgId("alpha"), "carol", PASSPHRASE, role="compliance")
    outsider = root / "outsider"
    create_org_identity(outsider, OrgId("outsider"), "Outsider Ltd", PASSPHRASE)
    certs = {
        org: (user_paths(directory, OrgId(org), "Admin").cert, user_paths(directory, OrgId(org), "Admin").key)
        for org in ("op", "alpha", "beta", "reg")
    }
    carol = user_paths(directory, OrgId("alpha"), "carol")
    certs["carol"] = (carol.cert, carol.key)
    outsider_admin = user_paths(outsider, OrgId("outsider"), "Admin")
    certs["outsider"] = (outsider_admin.cert, outsider_admin.key)
    certs["mallory"] = claiming_another_org(directory, root)
    port = free_port()
    extra = ["--rpc-cert", str(node_cert), "--rpc-key", str(node_key), "--rpc-public", ",".join(PUBLIC)]
    launched = launch_node(directory, PASSPHRASE, port, block_time=0.05, extra=extra)
    world = World(directory, load_description(directory), f"https://127.0.0.1:{port}", launched.process,
                  launched.log, certs)  # fmt: skip
    try:
        wait_until(lambda: answering(world), "the node to serve JSON-RPC over TLS", START_TIMEOUT,
                   every=0.1, ignoring=(httpx.TransportError,))  # fmt: skip
        yield world
    finally:
        stop_together([launched.process])


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert body["error"]["code"] == -32010, body
    return str(body["error"]["message"])


# -- members ------------------------------------------------------------------------------------------------------


#: Members' certificates: a firm's admin and person, another firm's admin, the operator's (which runs the node)
#: and the regulator's: the JSON-RPC answers each the same (docs/confidentiality.md, *The chain*).
@pytest.mark.parametrize("who", ["alpha", "carol", "beta", "op", "reg"])
def test_a_members_certificate_reads_blocks_and_logs(world: World, who: str) -> None:
    backend = RpcBackend(world.url, tls=world.tls(who))
    assert backend.chain_id == CHAIN_ID
    block = backend.web3.eth.get_block("latest", full_transactions=True)
    assert block["number"] >= 0
    registry = backend.web3.to_checksum_address(world.description.contracts["ConsortiumRegistry"])
    logs = backend.web3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": registry})
    assert logs, "genesis records the founders in the registry"
    answer = world.post(who, GET_BLOCK)
    assert answer.status_code == 200 and answer.json()["result"]["number"]


def test_a_member_sends_a_transaction(world: World) -> None:
    backend = RpcBackend(world.url, tls=world.tls("alpha"))
    account = Account.from_key(load_account_key(world.directory, OrgId("alpha"), PASSPHRASE))
    web3 = backend.web3
    tx = {"to": account.address, "value": 0, "gas": 21_000, "gasPrice": 0, "chainId": CHAIN_ID,
          "nonce": web3.eth.get_transaction_count(account.address)}  # fmt: skip
    tx_hash = web3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash, timeout=DEADLINE, poll_latency=0.05)
    assert receipt["status"] == 1


def test_the_cli_reads_the_chain_with_a_members_certificate(world: World) -> None:
    cert, key = world.certs["alpha"]
    result = cli_as(world, ["--chain-cert", str(cert), "--chain-key", str(key)], "member", "list")
    assert result.exit_code == 0, result.output
    assert "alpha" in result.output and "beta" in result.output
    refused = cli_as(world, [], "member", "list")  # the member CAs are trusted, but no certificate is presented
    assert refused.exit_code != 0
    assert "refused eth_call (HTTP 401): refused: no_certificate" in str(refused.exception)


def cli_as(world: World, options: list[str], *args: str) -> Any:
    env = {"CONSORTIUM_PASSPHRASE": PASSPHRASE.decode()}
    common = ["--dir", str(world.directory), "--chain-url", world.url, *options]
    return CliRunner().invoke(cli, [*common, *args], env=env)


# -- refusals -----------------------------------------------------------------------------------------------------


def test_without_a_certificate_only_the_public_subset_answers(world: World) -> None:
    for method in PUBLIC:
        answer = world.post(None, {"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
        assert answer.status_code == 200 and "result" in answer.json(), answer.text
    batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []} for i, m in enumerate(PUBLIC)]
    assert [a["id"] for a in world.post(None, batch).json()] == [0, 1]
    refused = {
        "a block": GET_BLOCK,
        "logs": {"jsonrpc": "2.0", "id": 2, "method": "eth_getLogs", "params": [{"fromBlock": "0x0"}]},
        "a call": {"jsonrpc": "2.0", "id": 3, "method": "eth_call", "params": [{"to": "0x" + "00" * 20}]},
        "a transaction": {"jsonrpc": "2.0", "id": 4, "method": "eth_sendRawTransaction", "params": ["0x00"]},
        "a batch with one private method": [batch[0], GET_BLOCK],
    }
    bodies = {what: json.dumps(payload).encode() for what, payload in refused.items()}
    bodies |= {"not JSON": b"{", "nested too deep for the C parser": b"[" * 100_000}
    for what, body in bodies.items():
        with world.client(None) as client:
            answer = client.post(world.url, content=body)
        assert answer.status_code == 401, (what, answer.text)
        assert error_of(answer).startswith("refused: no_certificate"), what
    assert world.post(None, GET_BLOCK).json()["id"] == 7  # the refusal answers the request's id
    with world.client(None) as client:
        assert client.get(world.url + "/health").json() == {"ok": True}
        assert client.get(world.url + "/metrics").status_code == 401
    with world.client("alpha") as client:
        assert "head" in client.get(world.url + "/health").json()
        assert "consortium_chain_head" in client.get(world.url + "/metrics").text


def test_a_certificate_of_a_ca_no_member_holds_fails_the_handshake_with_a_clear_error(world: World) -> None:
    with pytest.raises(httpx.TransportError, match="unknown ca"):
        world.post("outsider", GET_BLOCK)
    with pytest.raises(BackendError, match=r"refused the TLS handshake.*member CA"):
        RpcBackend(world.url, tls=world.tls("outsider"))


def test_a_certificate_claiming_another_org_is_refused(world: World) -> None:
    answer = world.post("mallory", GET_BLOCK)
    assert answer.status_code == 403
    assert "unknown_issuer" in error_of(answer) and "claims org reg" in error_of(answer)


def test_a_revoked_certificate_is_refused_from_the_next_request(world: World) -> None:
    assert world.post("carol", GET_BLOCK).status_code == 200
    cert, _ = world.certs["carol"]
    revoke_identity(world.directory, OrgId("alpha"), cert.read_bytes(), PASSPHRASE)
    with world.client("carol") as client:  # one connection, kept open across the revocation

        def refused() -> httpx.Response | None:
            answer = client.post(world.url, json=GET_BLOCK)
            return answer if answer.status_code == 403 else None

        answer = wait_until(refused, "the CRL to be read again", DEADLINE, every=0.1)
    assert "certificate_revoked" in error_of(answer)


def test_an_org_suspended_then_removed_by_governance_is_refused_and_the_cli_sent_both_over_tls(world: World) -> None:
    """The regulator suspends beta, then op proposes its removal (threshold 1: carried out); each is a
    transaction the CLI sends through the node with op's admin certificate, and beta is refused from the block
    that says so, without a restart."""
    assert world.post("beta", GET_BLOCK).status_code == 200
    cert, key = world.certs["op"]
    as_op = ["--chain-cert", str(cert), "--chain-key", str(key)]

    def refused_with(words: str) -> httpx.Response | None:
        answer = world.post("beta", GET_BLOCK)
        return answer if answer.status_code == 403 and words in error_of(answer) else None

    result = cli_as(world, as_op, "member", "suspend", "beta", "--as", "reg")
    assert result.exit_code == 0, result.output
    answer = wait_until(lambda: refused_with("is suspended"), "beta to be refused as suspended", DEADLINE, every=0.1)
    assert "unknown_member: org 'beta' is suspended on chain" in error_of(answer)
    result = cli_as(world, as_op, "member", "propose", "remove", "beta", "--as", "op")
    assert result.exit_code == 0, result.output
    answer = wait_until(lambda: refused_with("not a member"), "beta to be refused as removed", DEADLINE, every=0.1)
    assert "unknown_member" in error_of(answer) and "'beta' is not a member" in error_of(answer)
    # eth_chainId is public, but a certificate the rule refuses is answered at the handshake, whatever it asks
    with pytest.raises(BackendError, match=r"refused eth_chainId \(HTTP 403\): refused: unknown_member"):
        RpcBackend(world.url, tls=world.tls("beta"))
    backend = RpcBackend(world.url, tls=client_tls(world.description, None, None, None, PASSPHRASE))  # public only
    with pytest.raises(BackendError, match=r"refused eth_getBlockByNumber \(HTTP 401\): refused: no_certificate"):
        backend.web3.eth.get_block("latest")  # web3's requests, not the reads' httpx


# -- start-up ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--rpc-cert", "{cert}"], "--rpc-cert and --rpc-key go together"),
        (["--rpc-public", "eth_chainId"], "--rpc-public needs --rpc-cert and --rpc-key"),
        (
            ["--rpc-cert", "{cert}", "--rpc-key", "{key}", "--rpc-public", "eth_chainId,eth_sendRawTransaction"],
            "eth_sendRawTransaction cannot be public",
        ),
        (
            ["--rpc-cert", "{cert}", "--rpc-key", "{key}", "--rpc-public", "eth_chainId,eth_teleport"],
            "this node serves no method eth_teleport",
        ),
    ],
    ids=["cert-without-key", "public-without-tls", "public-write", "public-unknown"],
)
def test_options_that_cannot_run_stop_the_node_with_one_line(
    world: World, tmp_path: Path, options: list[str], message: str
) -> None:
    """Each in a copy of the directory, on a port of its own: the running node is left alone."""
    cert, key = world.certs["op"]
    args = [o.format(cert=cert, key=key) for o in options]
    command = [sys.executable, "-m", "cli.main", "node", str(world.directory), "--port", str(free_port()),
               "--chain-dir", str(tmp_path / "chain"), *args]  # fmt: skip
    (tmp_path / "chain").mkdir()
    genesis = (default_chain_dir(world.directory) / "genesis.json").read_bytes()
    (tmp_path / "chain" / "genesis.json").write_bytes(genesis)
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE.decode()}
    done = subprocess.run(command, env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr.decode()
    assert message in done.stderr.decode(), done.stderr.decode()
