"""A firm joins a running consortium from a directory of its own, as real processes: the founders' consortium runs
under ``consortium up`` as it serves by default (its node's JSON-RPC and its notary to members only, over mutual
TLS) with its demo traffic (chain node, notary, witnesses, op's gateway, explorer); the newcomer holds only a copy of
``consortium.json`` and the chain's URL. It runs ``member join`` as a member with the witness role (the node does
not answer it yet: the request is written unchecked); two members propose and approve its signed request from their
directory; it signs the transactions publishing its keys and its witness's URL, which a member relays, and from then
on reaches the node with its own admin identity; it starts its own witness and gateway from its directory (the
gateway shipping to the notary with its ``log@`` identity); its person logs in to the founders' explorer with no
restart; a founder's client is served by its gateway (an SDK client following the member CAs on chain too, where one
trusting consortium.json's alone is refused) and its client by a founder's (op's, which ``up`` runs for the one API
of op's catalogue). From then on alpha's client calls its gateway all the time: a checkpoint over one of those events
carries its witness's cosignature (``up``'s notary follows the witnesses on chain); its gateway key and then its CA
are rotated from its directory while its gateway serves (its server certificate, and the certificates it reaches the
node and the notary with, issued again by the new CA, then its server certificate anew by ``identity
server-cert``), with no call failed and no batch refused; a certificate it revokes on chain is refused by the
explorer, a leaked client certificate by op's gateway, each from the block its view of the chain reads the revocation
at. Governance removes it: its logins (from the block the explorer's view reads the removal at), its client at op's
gateway and its transactions are refused, the node refuses its gateway and the notary its ``log@`` identity and a
batch signed with its gateway key, while the evidence of events its gateway served as a member, from before and after
the rotations, still verifies. The refusals that need the chain (an org already on chain, a request of another
consortium, a non-empty directory) run against the same chain.

The commands run in this process (click's runner, the code the ``consortium`` script runs); what they act on is
processes. One consortium start for the module: it is the costly part."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from chain.backend import ClientTls, RpcBackend
from chain.contracts.trust import TrustDirectoryClient
from chain.ids import AssetKind, OrgId, Role
from chain.tx import Signer, transact
from cli.main import cli
from network.admission import create_request
from network.certificates import ca_bundle_pem
from network.config import parse_config
from network.consortium import Consortium, init_consortium
from network.description import load_description
from network.identity import create_org_identity, load_account_key, load_gateway_key
from network.logsetup import monitor_token, notary_client_tls
from network.nodeaccess import client_tls
from notary.bundle import EvidenceBundle
from notary.sequencer import batch_request
from sdk import MemberClient, TransportError
from tests.support.notary_events import event
from tests.support.servers import LocalHTTPServer, QuietHandler
from tests.support.small_consortium import three_member_config
from tests.support.up_process import (
    CHAIN_ID,
    UpProcess,
    consortium_process,
    free_port,
    free_port_block,
    serves,
)
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

PASSPHRASE = "member-join-passphrase"
FIRM_PASSPHRASE = "epsilon-own-passphrase"  # the newcomer's keys are its own, under its own passphrase
CLI = ["-m", "cli.main"]
NEWCOMER = "epsilon"
START_TIMEOUT = 240.0
FOLLOW_TIMEOUT = 30.0  # a follower sees a block within a poll; generous for a loaded machine
QUOTES_ROUTE = "/v1/market/quotes/level2"
OVERLAP = 10  # blocks an old gateway key or CA stays valid beside the new one: 2 s at the module's block time
CALL_EVERY = 0.2  # seconds between two calls of alpha's client to the newcomer's gateway, which runs meanwhile
CONNECTION_CALLS = 10  # calls on one connection kept alive, then a new one
#: The founders' catalogue: one API of op's, which the newcomer's client calls once op grants it its use.
_API = {"id": "quotes", "method": "GET", "route": QUOTES_ROUTE, "provider": "op", "asset": "quotes", "name": "Quotes"}
QUOTES = {
    "centers": [{"id": "market", "name": "Market", "units": [{"id": "md", "name": "Data", "apis": [_API]}]}],
    "assets": [
        {"id": "quotes", "owner": "op", "kind": "feed", "classification": 2, "title": "Quotes", "description": "Q"}
    ],
    # alpha's, which `up --traffic` calls under beside the calls the gateway refuses
    "grants": [{"asset": "quotes", "grantee": "alpha", "purpose": "trading", "days": 365, "quota": 0}],
}


@dataclass
class Founders:
    """The founders' consortium as ``up`` serves it by default: its node's JSON-RPC and its notary over HTTPS to
    members only (a member's certificate, issued by a CA on chain); its explorer and the gateways' admin ports on
    loopback HTTP."""

    directory: Path
    up: UpProcess
    passphrase_file: Path

    @property
    def chain(self) -> str:
        return f"https://127.0.0.1:{self.up.port}"

    @property
    def explorer(self) -> str:
        return f"http://127.0.0.1:{self.up.port + 60}"

    @property
    def notary(self) -> str:
        return f"https://127.0.0.1:{self.up.port + 1}"

    def tls(self, org: str = "alpha") -> ClientTls:
        """``org``'s admin identity for the node."""
        return admin_tls(self.directory, org, PASSPHRASE)

    def consortium(self, org: str = "alpha") -> Consortium:
        return Consortium.open(self.directory, self.chain, self.tls(org))

    def notary_tls(self) -> ssl.SSLContext:
        """op's ``log@`` identity, which the notary completes a handshake with."""
        return notary_client_tls(self.directory, load_description(self.directory), "op", PASSPHRASE.encode())


def admin_tls(directory: Path, org: str, passphrase: str) -> ClientTls:
    msp = directory / "orgs" / org / "users" / f"Admin@{org}" / "msp"
    return client_tls(load_description(directory), msp / "signcerts" / "cert.pem", msp / "keystore" / "key.pem",
                      None, passphrase.encode())  # fmt: skip


def run(directory: Path, passphrase_file: Path, chain: str, *args: str, reader: str | None = None) -> Result:
    """``consortium`` from ``directory``; an https chain is read as ``reader`` (``consortium --as``), else as the one
    org the directory holds or the command's own ``--as``."""
    options = [] if reader is None else ["--as", reader]
    return CliRunner().invoke(
        cli,
        ["--dir", str(directory), "--chain-url", chain, "--passphrase-file", str(passphrase_file), *options, *args],
        catch_exceptions=True,
    )


def founders_cli(founders: Founders, *args: str) -> Result:
    """``consortium`` from the founders' directory (every member's identities), reading the chain as op."""
    return run(founders.directory, founders.passphrase_file, founders.chain, *args, reader="op")


def ok(result: Result) -> str:
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    return result.output


def refusal(result: Result) -> str:
    """What `consortium` prints for a refusal: `error: …` (exit 1), or the exception its main turns into one."""
    assert result.exit_code != 0, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"error: {result.exception}"
    return result.output


@pytest.fixture(scope="module")
def founders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Founders]:
    base = tmp_path_factory.mktemp("join")
    directory = base / "founders"
    # op and alpha vote; op provides one API (its gateway under `up`, in front of the demo's upstream)
    config = {**three_member_config("join-test", CHAIN_ID), "admission_threshold": 2, "catalogue": QUOTES}
    init_consortium(directory, parse_config(config), PASSPHRASE.encode(), load_demo=True)
    passphrase_file = base / "founders.pass"
    passphrase_file.write_text(PASSPHRASE)
    port = free_port_block()
    env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, *CLI, "up", str(directory), "--port", str(port), "--traffic", "2", "--block-time", "0.2"]
    up = UpProcess(argv, env, port)  # as `up` serves by default: the chain and the notary to members only
    try:
        up.wait_for_summary(timeout=START_TIMEOUT, plain_rpc=False)
        yield Founders(directory, up, passphrase_file)
    finally:
        if up.process.poll() is None:
            up.stop()


def me(explorer: str, token: str) -> httpx.Response:
    return httpx.get(f"{explorer}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_firm_joins_from_its_own_directory_works_is_revoked_and_removed(founders: Founders, tmp_path: Path) -> None:
    firm = tmp_path / "epsilon"
    firm_pass = tmp_path / "epsilon.pass"
    firm_pass.write_text(FIRM_PASSPHRASE)
    copy = tmp_path / "consortium.json"  # all the firm was given, with the chain's URL
    copy.write_text((founders.directory / "consortium.json").read_text())

    def at_firm(*args: str) -> Result:
        return run(firm, firm_pass, founders.chain, *args)

    def at_founders(*args: str) -> Result:
        return founders_cli(founders, *args)

    # the firm, on its machine: identity and signed request, as a member that also runs a witness; the node, which
    # serves members only, does not answer it yet: the request is written unchecked, the members check it on chain
    out = ok(
        at_firm("member", "join", NEWCOMER, "--name", "Epsilon Securities", "--consortium", str(copy),
                "--roles", "member,witness")
    )  # fmt: skip
    fingerprint = re.search(r"CA fingerprint  (0x[0-9a-f]{64})", out)
    assert fingerprint is not None and "send admission-request.json to a member of join-test" in out, out
    assert f"not checked against the chain: {founders.chain} answers members only" in out, out
    request = firm / "admission-request.json"

    # its person exists before admission, but no member trusts its CA yet
    ok(at_firm("user", "add", str(firm), "--org", NEWCOMER, "--name", "eve", "--role", "compliance"))
    ok(at_firm("user", "add", str(firm), "--org", NEWCOMER, "--name", "finn", "--role", "operator"))
    tokens = {
        name: ok(at_firm("user", "token", str(firm), "--org", NEWCOMER, "--name", name)).strip()
        for name in ("eve", "finn")
    }
    before = me(founders.explorer, tokens["eve"])
    assert (before.status_code, before.json()["error"]) == (401, "unknown_issuer"), before.text

    # the members vote from their own directory: the request checked, then exactly it proposed and approved
    out = ok(
        at_founders("member", "propose", "admit", "--request", str(request), "--ca-fingerprint", fingerprint.group(1),
                    "--as", "op")
    )  # fmt: skip
    assert "signature and contents check" in out and "awaiting approvals" in out, out
    pid = re.search(r"proposal #(\d+) created", out)
    assert pid is not None
    assert "it was carried out" in ok(
        at_founders("member", "approve", pid.group(1), "--request", str(request), "--as", "alpha")
    )
    shown = json.loads(ok(at_founders("member", "show", NEWCOMER, "--json")))
    assert (shown["status"], sorted(shown["roles"]), shown["name"]) == (
        "active",
        ["member", "witness"],
        "Epsilon Securities",
    )

    # admitted: the firm signs the transactions publishing its keys and its witness's URL in its directory (the
    # node refuses its handshake until its CA is on chain) and a member sends them unchanged; its person is let in
    # with no restart, and from then on the firm reads and writes the chain through the node itself
    witness_port = free_port()
    publication = tmp_path / "keys.json"
    ok(at_firm("member", "keys", "publish", "--sign-only", str(publication), "--as", NEWCOMER,
               "--witness-url", f"http://127.0.0.1:{witness_port}"))  # fmt: skip
    assert "5 key(s) of epsilon sent" in ok(at_founders("member", "keys", "relay", str(publication), "--as", "op"))
    assert "every key of epsilon is already on chain" in ok(
        at_firm("member", "keys", "publish", "--as", NEWCOMER, "--witness-url", f"http://127.0.0.1:{witness_port}")
    )
    # the founders' callers that take a bundle file get the newcomer's CA from the chain, not from the firm
    member_cas = tmp_path / "member-cas.pem"
    written = ok(at_founders("member", "keys", "ca-bundle", "--out", str(member_cas)))
    assert "4 member CA certificate(s) valid on chain" in written, written  # op's, alpha's, reg's and the newcomer's
    person = wait_until(
        lambda: (r := me(founders.explorer, tokens["eve"])).status_code == 200 and r.json(),
        "the explorer to accept the newcomer's person",
        FOLLOW_TIMEOUT,
        every=0.2,
    )
    assert (person["org"], person["role"]) == (NEWCOMER, "compliance"), person

    # it offers a service (the operator's catalogue unit, its API, a grant to alpha) and starts its own gateway and
    # witness from its directory: alpha's client is served, the notary logs the gateway's batches under its key from
    # chain, and `up`'s notary, not restarted, asks its witness at the URL it published and counts it
    offer_a_service(founders, firm, firm_pass)
    ok(at_firm("witness", "init", str(firm), "--org", NEWCOMER))
    if not (founders.directory / "orgs" / "alpha" / "users" / "client@alpha").is_dir():  # `up` may have issued it
        ok(at_founders("identity", "issue", "--org", "alpha", "--name", "client"))
    gateway_port, admin_port = free_port(), free_port()
    witness = ["--chain-url", founders.chain, "witness", "serve", str(firm), "--org", NEWCOMER,
               "--port", str(witness_port)]  # fmt: skip
    with (
        Upstream() as upstream,
        consortium_process(witness, FIRM_PASSPHRASE, firm / "witness.log") as witness_process,
        running_gateway(firm, firm_pass, founders, upstream.url, gateway_port, admin_port),
        MemberClient.from_directory(
            founders.directory, "alpha", name="client", passphrase=PASSPHRASE.encode(), notary_url=founders.notary
        ) as alpha,
    ):
        health = wait_until(
            lambda: gateway_health(admin_port, lambda h: h["chain"].get("head", 0) > 0),
            "the newcomer's gateway to serve",
            60,
            every=0.2,
            ignoring=(httpx.HTTPError,),
        )
        assert health["gateway"] == f"{NEWCOMER}/gateway", health
        wait_until(
            lambda: serves(f"http://127.0.0.1:{witness_port}", witness_process, firm / "witness.log"),
            "the newcomer's witness to serve",
            60,
            every=0.2,
            ignoring=(httpx.HTTPError,),
        )
        answer = wait_until(
            lambda: r if (r := call_as_alpha(founders, member_cas, gateway_port)).status_code == 200 else None,
            "the newcomer's gateway to serve alpha under its grant",
            FOLLOW_TIMEOUT,
            every=0.2,
        )
        assert answer.headers["Consortium-Gateway"] == f"{NEWCOMER}/gateway", answer.headers
        served_event = answer.headers["Consortium-Event-Id"]
        # an SDK client of alpha's that follows the member CAs on chain calls it with no CA handed over; one trusting
        # consortium.json's CAs alone (the founders') cannot verify its gateway's certificate
        gateway = f"https://127.0.0.1:{gateway_port}"
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            alpha.call(gateway, "GET", "/v1/esg/scores", purpose="research")
        with MemberClient.from_directory(
            founders.directory, "alpha", name="client", passphrase=PASSPHRASE.encode(), follow_chain=True,
            chain_url=founders.chain,
        ) as following:  # fmt: skip
            followed = wait_until(
                lambda: r if (r := following.call(gateway, "GET", "/v1/esg/scores", purpose="research")).status == 200
                else None,
                "an SDK client following the chain's CAs to be served by the newcomer's gateway",
                FOLLOW_TIMEOUT,
                every=0.2,
                ignoring=(TransportError,),
            )  # fmt: skip
        assert followed.gateway_id == f"{NEWCOMER}/gateway" and followed.event_id, followed

        # from here to the removal alpha's client calls the newcomer's gateway all the time, on connections kept
        # alive, trusting the newcomer's CA as it was given it before any rotation: every answer must be 200 with an
        # event id
        gateway_tls = firm / "orgs" / NEWCOMER / "gateway" / "tls" / "cert.pem"
        traffic = Caller(
            f"https://127.0.0.1:{gateway_port}/v1/esg/scores",
            alpha_context(founders, cadata=(firm / "orgs" / NEWCOMER / "ca" / "ca-cert.pem").read_text()),
            {"Consortium-Purpose": "research"},
        )
        with traffic:
            # its client calls a founder's gateway: op grants it its API, op's gateway takes its CA and the grant
            # from the chain with no restart, and the call is answered
            grant_quotes_to_the_newcomer(founders)
            ok(at_firm("identity", "issue", "--org", NEWCOMER, "--name", "client"))
            quoted = wait_until(
                lambda: r if (r := call_op_as_newcomer(founders, firm)).status_code == 200 else None,
                "op's gateway to serve the newcomer's client under its grant",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            assert quoted.headers["Consortium-Gateway"] == "op/gateway", quoted.headers
            shipped = wait_until(
                lambda: gateway_health(admin_port, lambda h: h["outbox"]["shipped_seq"] >= 1),
                "the newcomer's gateway to ship its event to the notary",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            assert "notary-refused" not in shipped["alarms"], shipped

            # its witness counted: a checkpoint covering an event of its gateway logged after the notary took the
            # witness from the chain carries its cosignature
            wait_until(
                lambda: notary_health(founders)["policy"] == "2 of 4 witnesses including a regulator",
                "the notary to count the newcomer's witness from the chain",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            cosigned = wait_until(
                lambda: cosigned_by_newcomer(alpha, traffic),
                "a checkpoint cosigned by the newcomer's witness over an event of its gateway",
                FOLLOW_TIMEOUT * 4,
                every=0.2,
            )

            # its gateway key rotated from its directory while its gateway serves: the running gateway signs with the
            # new key from its block, and after the old key retired its batches still go, none refused
            rotated = json.loads(
                ok(at_firm("gateway", "rotate-key", "--overlap-blocks", str(OVERLAP), "--as", NEWCOMER, "--json"))
            )
            assert rotated["old"]["public_key"] == health["shipper"]["key"], (rotated, health["shipper"])
            wait_until(
                lambda: gateway_health(admin_port, lambda h: h["shipper"]["key"] == rotated["new"]["public_key"]),
                "the running gateway to sign with its new key",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            tick_to(founders, rotated["old"]["valid_until"])  # the old key's end
            shipped_after(admin_port, traffic, "its batches signed with the new key alone to be taken")
            previous_key = firm / "orgs" / NEWCOMER / "keys" / "gateway.previous.pem"
            wait_until(lambda: not previous_key.exists(), "the gateway to drop its retired key", FOLLOW_TIMEOUT)

            # its CA rotated from its directory while its gateway serves: its server certificate is issued again by
            # the new CA with the cross certificate, the running gateway presents it at the next handshake, alpha's
            # client (which still trusts the CA it was given) takes it, and goes on after the old CA retired
            old_serial = first_certificate(gateway_tls).serial_number
            ca = json.loads(ok(at_firm("identity", "rotate-ca", "--overlap-blocks", str(OVERLAP), "--as", NEWCOMER,
                                       "--json")))  # fmt: skip
            assert ca["installed"] and str(gateway_tls.relative_to(firm)) in ca["reissued"], ca
            new_serial = first_certificate(gateway_tls).serial_number
            assert new_serial != old_serial
            wait_until(
                lambda: new_serial in traffic.serials(),
                "alpha's client to be served under the re-issued certificate",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            tick_to(founders, ca["old"]["valid_until"])  # the old CA's end
            # and issued anew from its directory (`identity server-cert`) after the old CA's end, the cross
            # certificate after it: presented at the next handshake, taken by the same client
            issued = ok(at_firm("identity", "server-cert", "--org", NEWCOMER, "--service", "gateway"))
            served_now = x509.load_pem_x509_certificates(gateway_tls.read_bytes())
            assert f"serial {served_now[0].serial_number:#x}" in issued and len(served_now) == 2, issued
            wait_until(
                lambda: served_now[0].serial_number in traffic.serials(),
                "alpha's client to be served under the certificate issued anew",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            after_event = shipped_after(admin_port, traffic, "calls after the old CA's end to be logged")
            assert not traffic.failures(), traffic.failures()[:5]

            # its people make tokens with their re-issued certificates; one it revokes on chain is refused from
            # that block on, its colleague's is not
            tokens = {
                name: ok(at_firm("user", "token", str(firm), "--org", NEWCOMER, "--name", name)).strip()
                for name in ("eve", "finn")
            }
            eve_cert = firm / "orgs" / NEWCOMER / "users" / f"eve@{NEWCOMER}" / "msp" / "signcerts" / "cert.pem"
            wait_until(
                lambda: me(founders.explorer, tokens["eve"]).status_code == 200,
                "the explorer to accept a token of a re-issued certificate",
                FOLLOW_TIMEOUT,
                every=0.2,
            )
            revoked = ok(at_firm("member", "keys", "revoke", "--cert", str(eve_cert), "--as", NEWCOMER))
            assert "revoked serial" in revoked, revoked
            # refused from the block the explorer's view of the directory reads the revocation at: once its
            # /healthz says its logins are decided at that block or later, the very next request is refused
            explorer_reads(founders, tokens["finn"], revoking_block(founders, revoked), "the revoking block")
            refused = me(founders.explorer, tokens["eve"])
            assert refused.status_code == 401 and refused.json()["error"] == "certificate_revoked", refused.text
            assert me(founders.explorer, tokens["finn"]).status_code == 200

            # a leaked client certificate of the firm, served by op's gateway until the firm revokes it, is refused
            # there from the block its view of the chain reads the revocation at; how many blocks after the revoking
            # block that is depends on the machine's load (measured, not asserted: docs/trust.md)
            leaked_is_refused_from_its_block(founders, firm, at_firm)

        # every call alpha's client made to the newcomer's gateway across both rotations was served and logged
        assert not traffic.failures(), traffic.failures()[:5]
        assert len(traffic.calls) >= 20, len(traffic.calls)
        assert set(upstream.served) == {("/v1/esg/scores", "alpha")}
        # and the first call and the SDK's (the gateway forwards an allowed call only)
        assert len(upstream.served) == 2 + len(traffic.calls), len(upstream.served)
        gateway_log = (firm / "gateway.log").read_text(errors="replace")
        assert "notary refused a batch" not in gateway_log, gateway_log[-3000:]

        # what its gateway logged, from before the rotations (the first call's event, and the one whose checkpoint
        # its witness cosigned, that witness counted) and after them, is evidence: cosigned by the witnesses and
        # anchored, each verifies with `verify evidence` against the chain
        description_file = str(founders.directory / "consortium.json")
        bundles: dict[str, Path] = {}
        for name, event_id in (("first", served_event), ("cosigned", cosigned.event_id), ("after", after_event)):
            bundle = alpha.evidence(event_id, wait_s=120, anchored=True)
            assert json.loads(bundle.entry)["provider_org"] == NEWCOMER
            bundles[event_id] = tmp_path / f"{name}.json"
            bundles[event_id].write_text(json.dumps(bundle.to_json()), encoding="utf-8")
            verified = ok(at_founders("verify", "evidence", str(bundles[event_id]), "--consortium", description_file))
            assert f"evidence of {event_id!r} verified" in verified, verified
            if name == "cosigned":
                cosignatures = next(line for line in verified.splitlines() if line.startswith("✓ cosignatures — "))
                assert NEWCOMER in cosignatures.split("(policy")[0], cosignatures

        # governance removes the firm: its people, its transactions and its gateway's batches are refused
        out = ok(at_founders("member", "propose", "remove", NEWCOMER, "--as", "op"))
        pid = re.search(r"proposal #(\d+) created", out)
        assert pid is not None
        assert "it was carried out" in ok(at_founders("member", "approve", pid.group(1), "--as", "alpha"))
        # refused from the block the explorer's view reads the removal at (the head once the approval's receipt
        # came, or later), asked with a founder's person's token since the firm's no longer passes
        person = ("--org", "alpha", "--name", "ada")
        ok(at_founders("user", "add", str(founders.directory), *person, "--role", "compliance"))
        founders_token = ok(at_founders("user", "token", str(founders.directory), *person))
        explorer_reads(founders, founders_token.strip(), chain_head(founders), "the removal")
        removed = me(founders.explorer, tokens["finn"])
        assert removed.status_code == 401, removed.text
        # the login's certificate check refuses as the view's snapshot says the org was removed (its CA issues
        # nobody), whatever the explorer's registry follower has seen yet
        assert removed.json()["error"] == "unknown_member", removed.text
        assert "not a member" in refusal(at_firm("member", "keys", "revoke", "0x1234", "--as", NEWCOMER))
        # its client is refused at op's gateway (401 at the request, or no handshake once its CA no longer counts)
        wait_until(
            lambda: newcomer_refused_by_op(founders, firm),
            "op's gateway to refuse the removed firm's client",
            FOLLOW_TIMEOUT,
            every=0.2,
        )
        # its gateway no longer reads the chain: the node refuses it, as it refuses the firm's own commands; once its
        # grants' cache is older than --stale-after its calls fail closed (not waited for here: 30 s)
        wait_until(
            lambda: gateway_health(admin_port, lambda h: h["chain"]["reachable"] is False),
            "the node to refuse the removed firm's gateway",
            FOLLOW_TIMEOUT,
            every=0.2,
        )
        # and the notary refuses its log@ identity (at the handshake, or at the request once its view of the chain
        # read the removal), and from then on a batch its gateway signs
        wait_until(
            lambda: removed_firm_at_notary(founders, firm) in (None, 401, 403),
            "the notary to refuse the removed firm",
            FOLLOW_TIMEOUT,
            every=0.2,
        )
        assert removed_firm_at_notary(founders, firm, batch=True) in (None, 401, 403)

    # and stays evidence after the removal: the bundles verify again, and the first call's, asked for now, too
    with MemberClient.from_directory(
        founders.directory, "alpha", name="client", passphrase=PASSPHRASE.encode(), notary_url=founders.notary
    ) as client:
        bundle = client.evidence(served_event, wait_s=120, anchored=True)
    assert json.loads(bundle.entry)["provider_org"] == NEWCOMER
    saved = tmp_path / "bundle.json"
    saved.write_text(json.dumps(bundle.to_json()), encoding="utf-8")
    for event_id, path in [*bundles.items(), (served_event, saved)]:
        again = ok(at_founders("verify", "evidence", str(path), "--consortium", description_file))
        assert f"evidence of {event_id!r} verified" in again, again


@contextlib.contextmanager
def running_gateway(
    firm: Path, firm_pass: Path, founders: Founders, upstream: str, port: int, admin_port: int
) -> Iterator[None]:
    """`consortium gateway serve` of the newcomer, from its directory, until the block ends; it must stop cleanly."""
    log = firm / "gateway.log"
    with log.open("w") as out:
        gateway = subprocess.Popen(
            [sys.executable, *CLI, "gateway", "serve", str(firm), "--org", NEWCOMER, "--upstream", upstream,
             "--port", str(port), "--admin-port", str(admin_port), "--notary-url", founders.notary,
             "--chain-url", founders.chain, "--passphrase-file", str(firm_pass)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
        try:
            yield
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    assert gateway.returncode == 0, log.read_text()[-3000:]


def offer_a_service(founders: Founders, firm: Path, firm_pass: Path) -> None:
    """The operator adds a catalogue unit; the newcomer, from its own keys, registers an asset and its API in it and
    grants alpha its use (the CLI has no command for the catalogue: the contracts' clients, as `init` uses them)."""
    c = Consortium.open(firm, founders.chain, admin_tls(firm, NEWCOMER, FIRM_PASSPHRASE))
    operator = Signer.from_key(load_account_key(founders.directory, OrgId("op"), PASSPHRASE.encode()))
    newcomer = Signer.from_key(load_account_key(firm, OrgId(NEWCOMER), firm_pass.read_text().encode()))
    c.assets.add_center(operator, "research", "Research")
    c.assets.add_unit(operator, "esg", "research", "ESG")
    digest = hashlib.sha256(b"esg scores").digest()
    c.assets.register_asset(newcomer, "esg-scores", AssetKind.DATASET, digest, digest, 2)
    c.assets.register_api(newcomer, "esg-scores-api", "esg", "/v1/esg/scores", "GET", "esg-scores")
    now = c.now()
    c.grants.create_grant(newcomer, "esg-scores", "alpha", "research", now - 60, now + 86_400)


def gateway_health(admin_port: int, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    health: dict[str, Any] = httpx.get(f"http://127.0.0.1:{admin_port}/healthz", timeout=5).json()
    return health if ready(health) else None


def call_as_alpha(founders: Founders, member_cas: Path, port: int) -> httpx.Response:
    """alpha's client calls the newcomer's gateway over mutual TLS, trusting the member CAs of the bundle
    ``member keys ca-bundle`` wrote from the chain (the bundle of consortium.json lists the founders' alone)."""
    context = alpha_context(founders, member_cas.read_text())
    with httpx.Client(verify=context, timeout=10) as http:
        return http.get(f"https://127.0.0.1:{port}/v1/esg/scores", headers={"Consortium-Purpose": "research"})


def grant_quotes_to_the_newcomer(founders: Founders) -> None:
    c = founders.consortium("op")
    operator = Signer.from_key(load_account_key(founders.directory, OrgId("op"), PASSPHRASE.encode()))
    now = c.now()
    c.grants.create_grant(operator, "quotes", NEWCOMER, "trading", now - 60, now + 86_400)


def alpha_context(founders: Founders, cadata: str) -> ssl.SSLContext:
    """alpha's client certificate, trusting the CA certificates of ``cadata``."""
    client = founders.directory / "orgs" / "alpha" / "users" / "client@alpha" / "msp"
    context = ssl.create_default_context(cadata=cadata)
    context.load_cert_chain(client / "signcerts" / "cert.pem", client / "keystore" / "key.pem", PASSPHRASE)
    return context


def newcomer_context(firm: Path, name: str = "client") -> ssl.SSLContext:
    """A certificate of the newcomer's person ``name``, trusting the founders' CAs of the copy of consortium.json it
    was given."""
    client = firm / "orgs" / NEWCOMER / "users" / f"{name}@{NEWCOMER}" / "msp"
    context = ssl.create_default_context(cadata=ca_bundle_pem(load_description(firm)))
    context.load_cert_chain(client / "signcerts" / "cert.pem", client / "keystore" / "key.pem", FIRM_PASSPHRASE)
    return context


def call_op_as_newcomer(founders: Founders, firm: Path, name: str = "client") -> httpx.Response:
    """The newcomer's client calls op's gateway (`up`'s, its port + 20) over mutual TLS, trusting the founders' CAs
    of the copy of consortium.json it was given."""
    with httpx.Client(verify=newcomer_context(firm, name), timeout=10) as http:
        return http.get(
            f"https://localhost:{founders.up.port + 20}{QUOTES_ROUTE}",
            params={"symbol": "600519.SH"},
            headers={"Consortium-Purpose": "trading"},
        )


def newcomer_refused_by_op(founders: Founders, firm: Path) -> bool:
    try:
        answer = call_op_as_newcomer(founders, firm)
    except httpx.TransportError:  # the handshake refused: its CA no longer counts
        return True
    return answer.status_code in (401, 403)


class Upstream:
    """The newcomer's service behind its gateway: answers 200 and notes each (path, caller org)."""

    def __init__(self) -> None:
        self.served: list[tuple[str, str | None]] = []
        served = self.served

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                served.append((self.path, self.headers.get("Consortium-Caller-Org")))
                body = b'{"scores": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = LocalHTTPServer(Handler)
        self.url = self._server.url

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *_: object) -> None:
        self._server.close()


@dataclass(frozen=True)
class Call:
    """One answer a :class:`Caller` noted."""

    status: int | None  # None: no answer (``error`` says why)
    event_id: str | None
    serial: int | None  # the serial of the certificate the server presented on the connection
    head: int | None  # the chain's head read after the answer, when the caller reads it
    error: str | None
    view: int | None = None  # the block the server's view of the chain was at, read before the call, when asked


class Caller:
    """Calls one URL from a thread until the block ends, every ``every`` seconds, over mutual TLS on a connection
    kept alive for ``CONNECTION_CALLS`` calls and then a new one (so that a server certificate issued again is met at
    the next handshake, as any client meets it); notes every answer, with the serial of the certificate the server
    presented and, given ``head``, the chain's head read right after the answer (given ``view``, the block the
    server's view of the chain is at, read right before the call)."""

    def __init__(
        self,
        url: str,
        context: ssl.SSLContext,
        headers: dict[str, str],
        every: float = CALL_EVERY,
        head: Callable[[], int] | None = None,
        view: Callable[[], int] | None = None,
    ) -> None:
        self.calls: list[Call] = []  # appended by the thread alone
        self._url, self._context, self._headers, self._every, self._head = url, context, headers, every, head
        self._view = view
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="caller", daemon=True)

    def __enter__(self) -> Caller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the caller did not stop"

    def failures(self) -> list[Call]:
        return [c for c in list(self.calls) if c.status != 200 or not c.event_id]

    def serials(self) -> set[int | None]:
        return {c.serial for c in list(self.calls)}

    def event_after(self, mark: int) -> str | None:
        """The event id of the first call answered after the first ``mark`` calls, once there is one."""
        return next((c.event_id for c in self.calls[mark:] if c.event_id), None)

    def _run(self) -> None:
        while not self._stop.is_set():
            with httpx.Client(verify=self._context, timeout=10) as http:
                for _ in range(CONNECTION_CALLS):
                    self.calls.append(self._call(http))
                    if self._stop.wait(self._every):
                        return

    def _call(self, http: httpx.Client) -> Call:
        view = None
        try:
            view = self._view() if self._view else None
            answer = http.get(self._url, headers=self._headers)
        except Exception as exc:  # noted as a call that failed, the next one made: the thread goes on
            return Call(None, None, None, None, f"{type(exc).__name__}: {exc}", view)
        head = self._head() if self._head else None
        # the server's certificate, from the connection; a refusal that closed it (401 certificate_revoked) has none
        # left to ask, and its call is still recorded (an exception here would end the thread, and every call after)
        tls = answer.extensions["network_stream"].get_extra_info("ssl_object")
        der = None if tls is None else tls.getpeercert(True)
        error = None if answer.status_code == 200 else answer.text[:300]
        event_id = answer.headers.get("Consortium-Event-Id")
        serial = None if der is None else x509.load_der_x509_certificate(der).serial_number
        return Call(answer.status_code, event_id, serial, head, error, view)


def ticker(founders: Founders) -> Callable[[], None]:
    """Makes one block more: the chain makes a block for a transaction only (this one alpha's, to itself)."""
    chain = founders.consortium()
    signer = chain.signer("alpha", PASSPHRASE.encode())

    def tick() -> None:
        transact(chain.backend, signer, signer.address, "0x", label="tick")

    return tick


def tick_to(founders: Founders, block: int) -> None:
    tick = ticker(founders)
    while chain_head(founders) < block:
        tick()


@contextlib.contextmanager
def ticking(founders: Founders) -> Iterator[None]:
    """A block after another, from a thread, until the block ends."""
    tick, stop = ticker(founders), threading.Event()

    def blocks() -> None:
        while not stop.is_set():
            tick()

    thread = threading.Thread(target=blocks, name="ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def revoking_block(founders: Founders, out: str) -> int:
    """The block of the record a ``member keys revoke`` printed (``(record #N)``): the revoking transaction's."""
    index = re.search(r"\(record #(\d+)\)", out)
    assert index is not None, out
    description = load_description(founders.directory)
    backend = RpcBackend(founders.chain, tls=founders.tls())
    trust = TrustDirectoryClient(backend, description.contracts["TrustDirectory"])
    return trust.records(NEWCOMER)[int(index.group(1))].valid_from


def explorer_reads(founders: Founders, token: str, block: int, what: str) -> None:
    """Wait for the explorer's logins to be decided at ``block`` or later: its view of the TrustDirectory, as its
    /healthz says to a logged-in person (``trust_head``); on a timeout, what it said last."""
    said: list[Any] = []

    def at_block() -> bool:
        figures = httpx.get(f"{founders.explorer}/healthz", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        said[:] = [figures.json()]
        return int(figures.json().get("trust_head", -1)) >= block

    try:
        wait_until(at_block, f"the explorer's logins to read {what} (block {block})", FOLLOW_TIMEOUT * 2, every=0.2,
                   ignoring=(httpx.HTTPError,))  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}; its /healthz said {said}") from exc


def chain_head(founders: Founders) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    answer = httpx.post(founders.chain, json=body, verify=founders.tls().context(), timeout=10)
    return int(answer.json()["result"], 16)


def notary_health(founders: Founders) -> dict[str, Any]:
    """The figures of `up`'s notary, which serves members only and authenticates its reads: given to the monitor
    token, over a member's connection."""
    token = monitor_token(founders.directory)
    assert token is not None
    auth = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(founders.notary + "/healthz", headers=auth, verify=founders.notary_tls(), timeout=10)
    health: dict[str, Any] = answer.json()
    return health


def removed_firm_at_notary(founders: Founders, firm: Path, batch: bool = False) -> int | None:
    """What the notary answers the firm's log@ identity (None: no handshake): a read of ``/v1/gaps``, or with
    ``batch`` a batch of one event signed with the firm's gateway key (its current one)."""
    description = load_description(firm)
    tls = notary_client_tls(firm, description, NEWCOMER, FIRM_PASSPHRASE.encode())
    try:
        if not batch:
            return httpx.get(f"{founders.notary}/v1/gaps", verify=tls, timeout=10).status_code
        key = load_gateway_key(firm, OrgId(NEWCOMER), FIRM_PASSPHRASE.encode(), description.crypto)
        gateway_id = f"{NEWCOMER}/gateway"
        fields = {"caller_org": "alpha", "provider_org": NEWCOMER, "gateway_id": gateway_id, "gateway_seq": 10**6}
        body, headers = batch_request(gateway_id, [event(event_id="after-removal", **fields)], key)
        return httpx.post(f"{founders.notary}/v1/batches", content=body, headers=headers, verify=tls,
                          timeout=10).status_code  # fmt: skip
    except httpx.TransportError:  # the handshake refused: its CA no longer counts
        return None


def first_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def cosigned_by_newcomer(alpha: MemberClient, traffic: Caller) -> EvidenceBundle | None:
    """The evidence of an event of alpha's next call to the newcomer's gateway, if the checkpoint it is proven against
    carries the newcomer's witness's cosignature."""
    mark = len(traffic.calls)
    event_id = wait_until(lambda: traffic.event_after(mark), "a call of alpha's to the newcomer", FOLLOW_TIMEOUT)
    bundle = alpha.evidence(event_id, wait_s=FOLLOW_TIMEOUT * 2)
    assert bundle.checkpoint is not None, bundle.pending
    return bundle if NEWCOMER in bundle.checkpoint.cosigners else None


def shipped_after(admin_port: int, traffic: Caller, what: str) -> str:
    """The event id of a call of ``traffic`` made from now on, once the gateway shipped it, none of its batches
    refused."""
    mark = len(traffic.calls)
    event_id = wait_until(lambda: traffic.event_after(mark), what, FOLLOW_TIMEOUT)
    now = gateway_health(admin_port, lambda h: True)
    assert now is not None
    last = now["outbox"]["last_seq"]
    shipped = wait_until(
        lambda: gateway_health(admin_port, lambda h: h["outbox"]["shipped_seq"] >= last),
        what,
        FOLLOW_TIMEOUT,
        every=0.2,
    )
    assert "notary-refused" not in shipped["alarms"] and shipped["shipper"]["last_error"] is None, shipped
    return event_id


def leaked_is_refused_from_its_block(founders: Founders, firm: Path, at_firm: Callable[..., Result]) -> None:
    """A certificate of the firm's, served by op's gateway, revoked while it calls there every few hundredths of a
    second and blocks follow one another (a transaction each): every call before the first refusal is served, the
    first refusal (401 ``certificate_revoked`` on the connection kept alive) is answered once the revoking
    transaction's block is the chain's head, and every call made once op's gateway's view of the chain had read that
    block (its /healthz, read before the call) is refused."""
    ok(at_firm("identity", "issue", "--org", NEWCOMER, "--name", "leaked"))
    cert = firm / "orgs" / NEWCOMER / "users" / f"leaked@{NEWCOMER}" / "msp" / "signcerts" / "cert.pem"
    wait_until(
        lambda: call_op_as_newcomer(founders, firm, "leaked").status_code == 200,
        "op's gateway to serve the certificate about to leak",
        FOLLOW_TIMEOUT,
        every=0.2,
    )
    url = f"https://localhost:{founders.up.port + 20}{QUOTES_ROUTE}?symbol=600519.SH"
    context = newcomer_context(firm, "leaked")
    admin = f"http://127.0.0.1:{founders.up.port + 40}/healthz"  # op's gateway's admin port

    def view() -> int:
        head: int = httpx.get(admin, timeout=10).json()["trust"]["head"]
        return head

    headers = {"Consortium-Purpose": "trading"}
    with (
        ticking(founders),
        Caller(url, context, headers, every=0.02, head=lambda: chain_head(founders), view=view) as leak,
    ):
        wait_until(lambda: any(c.status == 200 for c in leak.calls), "a call of the leaked certificate", FOLLOW_TIMEOUT)
        block = revoking_block(founders, ok(at_firm("member", "keys", "revoke", "--cert", str(cert), "--as", NEWCOMER)))
        # the view first, read on its own (a loaded machine may take a while to read the directory again), then a
        # call answered once it had; if the view does not get there, what it and the last calls said
        try:
            wait_until(
                lambda: view() >= block,
                f"op's gateway's view to read the revoking block {block}",
                FOLLOW_TIMEOUT * 2,
                every=0.2,
                ignoring=(httpx.HTTPError,),
            )
        except AssertionError as exc:
            seen = httpx.get(admin, timeout=10).json()["trust"]
            last = leak.calls[-3:]
            raise AssertionError(f"{exc}; its view: {seen}; {len(leak.calls)} calls, the last {last}") from exc
        wait_until(
            lambda: any(c.status is not None and c.view is not None and c.view >= block for c in leak.calls),
            "a call answered once op's gateway's view read the revoking block",
            FOLLOW_TIMEOUT,
        )
    calls = list(leak.calls)
    first = next(i for i, c in enumerate(calls) if c.status != 200)
    refused = calls[first]
    # 401 at the next request on a connection kept alive, 403 once the handshake of a new one is done
    assert refused.status in (401, 403) and '"reason": "certificate_revoked"' in str(refused.error), refused
    assert refused.head is not None and refused.head >= block, (block, refused)
    read = [c for c in calls if c.status is not None and c.view is not None and c.view >= block]  # answered ones
    assert read and all(c.status in (401, 403) for c in read), (block, [c for c in read if c.status not in (401, 403)])


def test_a_request_for_an_org_already_on_chain_is_refused(founders: Founders, tmp_path: Path) -> None:
    """A founder's org id, in a request made offline (join itself refuses it from consortium.json and the chain)."""
    description = load_description(founders.directory)
    create_org_identity(tmp_path, OrgId("alpha"), "Alpha Impostor", PASSPHRASE.encode())
    request = create_request(tmp_path, description, OrgId("alpha"), Role.MEMBER, PASSPHRASE.encode())
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request.to_json()))
    out = refusal(founders_cli(founders, "member", "propose", "admit", "--request", str(path), "--as", "op"))
    assert "org 'alpha' already exists on chain (active, 'Alpha Securities')" in out, out
    firm = tmp_path / "firm"
    copy = tmp_path / "consortium.json"
    copy.write_text((founders.directory / "consortium.json").read_text())
    out = refusal(
        run(firm, founders.passphrase_file, founders.chain,
            "member", "join", "alpha", "--name", "Alpha Impostor", "--consortium", str(copy))
    )  # fmt: skip
    assert "'alpha' is a founding member" in out and not firm.exists(), out


@pytest.mark.parametrize("what", ["chain-id", "registry"])
def test_a_request_for_another_consortium_is_refused(founders: Founders, tmp_path: Path, what: str) -> None:
    description = load_description(founders.directory)
    if what == "chain-id":
        other = dataclasses.replace(description, chain_id=description.chain_id + 1)
    else:
        other = dataclasses.replace(
            description, contracts={**description.contracts, "ConsortiumRegistry": "0x" + "42" * 20}
        )
    create_org_identity(tmp_path, OrgId("zeta"), "Zeta Securities", PASSPHRASE.encode())
    request = create_request(tmp_path, other, OrgId("zeta"), Role.MEMBER, PASSPHRASE.encode())
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request.to_json()))
    out = refusal(founders_cli(founders, "member", "propose", "admit", "--request", str(path), "--as", "op"))
    assert "it was made from another consortium.json" in out, out


def test_join_refuses_a_directory_that_is_not_empty(founders: Founders, tmp_path: Path) -> None:
    firm = tmp_path / "firm"
    firm.mkdir()
    (firm / "keep.txt").write_text("the firm's own file")
    copy = tmp_path / "consortium.json"
    copy.write_text((founders.directory / "consortium.json").read_text())
    out = refusal(
        run(firm, founders.passphrase_file, founders.chain,
            "member", "join", "zeta", "--name", "Zeta Securities", "--consortium", str(copy))
    )  # fmt: skip
    assert "is not empty" in out and sorted(p.name for p in firm.iterdir()) == ["keep.txt"], out


def _request_of(founders: Founders, directory: Path, org: str) -> Path:
    """A valid request of a new firm for this consortium, made offline (the join test makes one with the CLI)."""
    create_org_identity(directory, OrgId(org), f"{org.title()} Securities", PASSPHRASE.encode())
    request = create_request(directory, load_description(founders.directory), OrgId(org), Role.MEMBER,
                             PASSPHRASE.encode())  # fmt: skip
    path = directory / "request.json"
    path.write_text(json.dumps(request.to_json()))
    return path


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--ca-fingerprint", "0x" + "ab" * 32], "not the 0xabab"),
        (["--roles", "member"], "--roles comes from the request"),
        (["theta"], "is 'eta''s, not 'theta''s"),
    ],
    ids=["ca-fingerprint", "roles", "org"],
)
def test_a_proposal_that_would_not_be_the_request_is_refused(
    founders: Founders, tmp_path: Path, args: list[str], reason: str
) -> None:
    path = _request_of(founders, tmp_path, "eta")
    admit = ["member", "propose", "admit", *args, "--request", str(path), "--as", "op"]
    out = refusal(founders_cli(founders, *admit))
    assert reason in out, out
    assert "eta" not in [p["org"] for p in _proposals(founders)]


def test_an_approval_against_a_request_the_proposal_does_not_match_is_refused(
    founders: Founders, tmp_path: Path
) -> None:
    path = _request_of(founders, tmp_path, "iota")
    founders_run = ("member", "propose", "threshold", "1", "--as", "op")
    out = ok(founders_cli(founders, *founders_run))
    pid = re.search(r"proposal #(\d+) created \(awaiting approvals\)", out)
    assert pid is not None, out
    approve = ["member", "approve", pid.group(1), "--request", str(path), "--as", "alpha"]
    out = refusal(founders_cli(founders, *approve))
    assert f"proposal #{pid.group(1)} is a set_threshold, not an admission" in out, out
    assert next(p for p in _proposals(founders) if p["proposal_id"] == int(pid.group(1)))["approvals"] == 1


def test_a_firm_revokes_only_certificates_of_its_own_ca(founders: Founders) -> None:
    issued = ok(founders_cli(founders, "identity", "issue", "--org", "alpha", "--name", "someone"))
    cert = re.search(r"certificate  (\S+)", issued)
    assert cert is not None, issued
    revoke = ["member", "keys", "revoke", "--cert", cert.group(1), "--as", "op"]
    out = refusal(founders_cli(founders, *revoke))
    assert "was not issued by the CA of op: a firm revokes its own" in out, out


def _proposals(founders: Founders) -> list[dict[str, object]]:
    out = ok(founders_cli(founders, "member", "proposals", "--json"))
    proposals: list[dict[str, object]] = json.loads(out)
    return proposals


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["lambda"], "give ORG and --roles (an identity created here), or --request FILE"),
        (["--roles", "member"], "give ORG and --roles"),
        (["lambda", "--roles", "member", "--ca-fingerprint", "0x" + "ab" * 32], "--ca-fingerprint checks a request"),
        (["lambda", "--roles", "member"], "no identity for 'lambda'"),
    ],
    ids=["no-roles", "no-org", "fingerprint-without-request", "no-identity"],
)
def test_propose_admit_without_a_request_says_what_it_needs(founders: Founders, args: list[str], reason: str) -> None:
    admit = ["member", "propose", "admit", *args, "--as", "op"]
    out = refusal(founders_cli(founders, *admit))
    assert reason in out, out
