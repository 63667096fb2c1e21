"""A consortium directory around a test chain, and the gateway of ``alpha`` in front of a real upstream, for the
tests that call the gateway through its HTTP port over mutual TLS.

``build_world(root, chain)`` writes what ``consortium init`` would leave for these orgs: an identity (CA, keys)
per org under ``root/orgs/``, ``consortium.json`` naming the chain of ``chain`` and its contracts, the CA
bundle callers trust the gateway with (``ca-bundle.pem``), the gateway's TLS server certificate, on chain the CA
certificate of each member in the TrustDirectory (which ``consortium gateway serve`` follows), and these
identities of callers, each with its certificate and (encrypted) key:

* ``client@op``, ``client@beta``, ``client@gamma``: members on chain; beta holds the fixture's grant
  (``gateway_chain``);
* ``client@reg``: the regulator, a member of the registry without the MEMBER role (``not_a_member``);
* ``client@delta``: an org in ``consortium.json`` that was never admitted on chain (``unknown_member``);
* ``expired@beta`` (valid for 30 days, 400 days ago), ``early@beta`` (valid from 10 days on),
  ``revoked@beta`` (for a test to revoke) and ``second@beta`` (a colleague's, not revoked);
* ``crafted``: ``other-ou`` signed by alpha's CA but naming org beta (``unknown_issuer``), ``no-eku`` signed by
  beta's CA without an extended key usage (``not_an_identity``), and ``stranger`` issued by umbrella, a CA no
  member lists (refused in the TLS handshake).

``LiveGateway`` assembles the gateway of ``alpha`` from its real parts (``ChainView``, ``CallerAuthenticator``,
``Outbox``, ``Shipper``, ``Gateway``), as ``gateway.service.serve`` does, and serves it on a loopback
port with the same TLS context; ``Upstream`` is the service behind it (aiohttp, loopback). Both run on a
``LoopThread``. ``GatewayProcess`` runs ``consortium gateway serve`` as a process instead.

``lagging_gateway_chain()`` is ``gateway_chain()`` on a node whose clock runs ``LAG_S`` behind the wall clock.
Gateways judge grants by the wall clock, and the contract refuses a grant whose expiry lies before its own
block; on such a chain a grant that has already expired by the gateways' clock can still be created
(``create_expired_grant``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eth.db.atomic import AtomicDB
from eth_account.signers.local import LocalAccount

from chain.backend import RpcBackend
from chain.contracts import KeyKind
from chain.ids import OrgId, Role, name_to_bytes32
from chain.node.node import Genesis, Node
from chain.node.rpc import RpcServer
from chain.node.service import Metrics, SealingLoop
from chain.trustview import TrustView
from chain.tx import build_transaction, send_transaction, wait_receipt
from gateway.policy import ChainView
from gateway.psi import PsiGuard
from gateway.quota import QuotaCounter
from gateway.server import Gateway, GatewaySettings, listen
from network.certificates import CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_server_certificate,
    load_gateway_key,
    load_org_public,
    user_paths,
)
from network.logsetup import log_origin
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper
from notary.submit.vault import SaltVault
from sdk import write_ca_bundle
from tests.integration.gateway.gateway_chain import (
    API,
    ASSET,
    CENTER,
    GRANTEE,
    METHOD,
    OTHER,
    OTHER_API,
    OTHER_ASSET,
    OTHER_ROUTE,
    PROVIDER,
    PURPOSE,
    QUOTA,
    RETIRED_API,
    RETIRED_ROUTE,
    ROUTE,
    SEARCH_API,
    SEARCH_ROUTE,
    UNIT,
    GatewayChain,
    hex_id,
)
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.support.consortium import ANVIL_CHAIN_ID, Keys, NodeBackend, deploy_test_consortium
from tests.support.up_process import free_port
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[3]
PASS = b"gateway-http-passphrase"
LAG_S = 3600
NOW = datetime.now(UTC).replace(microsecond=0)
#: Orgs with an identity in the directory and an entry in consortium.json (delta is not a member on chain).
ORGS = {
    "op": "Operator Securities",
    PROVIDER: "Alpha Securities",
    GRANTEE: "Beta Securities",
    OTHER: "Gamma Securities",
    "reg": "Reg Supervision",
    "delta": "Delta Securities",
}
CLIENT = "client"
_T = TypeVar("_T")


# -- the chain --------------------------------------------------------------------------------------------------


class LaggingNodeBackend(NodeBackend):
    """``NodeBackend`` with a genesis and a clock ``lag_s`` behind the wall clock (the node seals each block at
    its clock or one second after its parent, whichever is later)."""

    def __init__(self, operator: LocalAccount, lag_s: float) -> None:
        # NodeBackend.__init__ is not called: it would start a node with a genesis at the wall clock.
        self.offset = -lag_s
        genesis = Genesis(ANVIL_CHAIN_ID, (operator.address,), operator.address, int(time.time() - lag_s) - 1)
        self.node = Node(AtomicDB(), genesis, bytes(operator.key), clock=lambda: time.time() + self.offset)
        self.metrics = Metrics(self.node)
        self.server = RpcServer(self.node, port=0)
        self.server.start()
        self.loop = SealingLoop(self.node, self.metrics, block_time=0.01, empty_blocks=False)
        self.loop.start()
        RpcBackend.__init__(self, self.server.url)


@contextmanager
def lagging_gateway_chain(lag_s: float = LAG_S) -> Iterator[GatewayChain]:
    """The catalogue and grant of ``gateway_chain.start_gateway_chain``, on a node ``lag_s`` behind the wall."""
    keys = Keys.create()
    backend = LaggingNodeBackend(keys.deployer, lag_s)
    try:
        consortium = deploy_test_consortium(backend, keys)
        assets = consortium.assets
        assets.add_center(consortium.signers["op"], CENTER, "Market data")
        assets.add_unit(consortium.signers["op"], UNIT, CENTER, "Equity quotes")
        chain = GatewayChain(consortium, grant_id="")
        chain.register_asset(ASSET, PROVIDER)
        chain.register_api(API, ROUTE, METHOD)
        chain.register_api(SEARCH_API, SEARCH_ROUTE, "POST")
        chain.register_api(RETIRED_API, RETIRED_ROUTE, METHOD)
        chain.retire_api(RETIRED_API)
        chain.register_asset(OTHER_ASSET, OTHER)
        chain.register_api(OTHER_API, OTHER_ROUTE, METHOD, asset=OTHER_ASSET, owner=OTHER)
        chain.grant_id = chain.grant(GRANTEE, PURPOSE, quota=QUOTA)
        assert chain.now() < time.time() - lag_s / 2, "the chain's clock does not lag"
        yield chain
    finally:
        backend.close()


def create_expired_grant(chain: GatewayChain, grantee: str, purpose: str, asset: str = ASSET) -> str:
    """A grant of ``asset`` that was valid for a day and ended ten minutes ago by the wall clock; its id.

    It is sent with a gas limit of its own: py-evm estimates gas in a block stamped with the wall clock, in which
    this grant is refused as already expired, while the block that holds it is stamped with the node's clock."""
    now = int(time.time())
    assert chain.now() < now - 1200, "expired grants can be created on a lagging chain only"
    grants = chain.consortium.grants
    data = grants.encode(
        "create_grant",
        name_to_bytes32(asset, "asset id"),
        name_to_bytes32(grantee, "org id"),
        name_to_bytes32(purpose, "purpose"),
        now - 86400 - 600,
        now - 600,
        0,
    )
    label = "AccessGrants.create_grant"
    signer = chain.signers[PROVIDER]
    tx = build_transaction(chain.backend, signer, grants.address, data, label=label, gas=1_000_000)
    receipt = wait_receipt(chain.backend, send_transaction(chain.backend, signer, tx), label)
    return hex_id(bytes(grants.decode_events(receipt, "GrantCreated")[0]["args"]["grant_id"]))


# -- the consortium directory -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A caller's certificate and key (the key encrypted with ``password``, or not if None)."""

    org: str
    cert: Path
    key: Path
    password: bytes | None = PASS

    def pem(self) -> bytes:
        return self.cert.read_bytes()


@dataclass
class World:
    root: Path
    description: ConsortiumDescription
    bundle: Path  # ca-bundle.pem: the member CAs, which issued the gateway's server certificate
    crafted: dict[str, Identity] = field(default_factory=dict)

    def identity(self, org: str, name: str = CLIENT) -> Identity:
        paths = user_paths(self.root, OrgId(org), name)
        return Identity(org, paths.cert, paths.key)

    def gateway_key(self) -> Any:
        return load_gateway_key(self.root, OrgId(PROVIDER), PASS)


def _ca(root: Path, org: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    paths = OrgPaths.of(root, OrgId(org))
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASS)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()), key


def _craft(root: Path, out: Path, issuer_org: str, ou: str, *, client_auth: bool) -> Identity:
    """A certificate signed by the CA of ``issuer_org`` naming org ``ou``, with clientAuth or with no extended
    key usage at all; its key unencrypted beside it."""
    ca_cert, ca_key = _ca(root, issuer_org)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Crafted"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.COMMON_NAME, f"crafted@{ou}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    )
    if client_auth:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / "cert.pem", out / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Identity(ou, cert_path, key_path, None)


def build_world(root: Path, chain: GatewayChain, crypto: str = "intl") -> World:
    """The consortium directory of the module docstring, for the chain of ``chain`` (about 0.1 s), of the suite
    ``crypto``: under ``sm`` the witness, gateway and log keys are SM2 (written at the PBKDF2 iterations
    ``$CONSORTIUM_KDF_ITERATIONS`` sets, if set); the certificates are P-256 under both."""
    root.mkdir(parents=True, exist_ok=True)
    for org, name in ORGS.items():
        create_org_identity(root, OrgId(org), name, PASS, now=NOW - timedelta(days=1), crypto=crypto)
    description = ConsortiumDescription(
        name="gateway-http-test",
        chain_id=chain.backend.chain_id,
        chain_kind="external",
        chain_url=chain.backend.url,
        contracts=chain.contracts,
        deployed_at_block=0,
        admission_threshold=2,
        proposal_ttl_days=7,
        witness_policy={},
        members=tuple(
            MemberDescription(
                OrgId(org), name, Role.REGULATOR if org == "reg" else Role.MEMBER, load_org_public(root, OrgId(org))
            )
            for org, name in ORGS.items()
        ),
        crypto=crypto,
    )
    description.write(root)
    for org in ORGS:  # as `consortium init` does, the chain's TrustDirectory names each member's CA
        if org in chain.signers:
            ca = x509.load_pem_x509_certificate(OrgPaths.of(root, OrgId(org)).ca_cert.read_bytes())
            chain.consortium.trust.add_key(
                chain.signers[org], KeyKind.CA_CERT, ca.public_bytes(serialization.Encoding.DER)
            )
    bundle = write_ca_bundle(root, description)
    issue_server_certificate(root, OrgId(PROVIDER), PASS, now=NOW - timedelta(hours=1))
    for org in ("op", GRANTEE, OTHER, "reg", "delta"):
        issue_identity(root, OrgId(org), CLIENT, PASS, now=NOW - timedelta(hours=1))
    for name in ("revoked", "second"):
        issue_identity(root, OrgId(GRANTEE), name, PASS, now=NOW - timedelta(hours=1))
    issue_identity(root, OrgId(GRANTEE), "expired", PASS, now=NOW, not_before=NOW - timedelta(days=400), days=30)
    issue_identity(root, OrgId(GRANTEE), "early", PASS, now=NOW, not_before=NOW + timedelta(days=10))
    outside = root / "outside"
    create_org_identity(outside, OrgId("umbrella"), "Umbrella Corp", PASS, now=NOW - timedelta(days=1))
    issue_identity(outside, OrgId("umbrella"), CLIENT, PASS, now=NOW - timedelta(hours=1))
    stranger = user_paths(outside, OrgId("umbrella"), CLIENT)
    crafted = {
        "other-ou": _craft(root, root / "crafted" / "other-ou", PROVIDER, GRANTEE, client_auth=True),
        "no-eku": _craft(root, root / "crafted" / "no-eku", GRANTEE, GRANTEE, client_auth=False),
        "stranger": Identity("umbrella", stranger.cert, stranger.key),
    }
    return World(root, description, bundle, crafted)


# -- calling the gateway ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the gateway answered to one call."""

    status: int
    reason: str | None  # the JSON "reason" of a refusal (401, 403, 404, 413, 503), None for the upstream's answer
    event_id: str | None  # the Consortium-Event-Id header
    headers: httpx.Headers
    body: Any  # the decoded JSON body

    @property
    def recorded(self) -> bool:
        return self.event_id is not None


def client_context(world: World, identity: Identity | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(world.bundle))
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key), password=lambda: identity.password or b"")
    return context


class Caller:
    """One caller (an identity, or none) with its own keep-alive connection."""

    def __init__(self, world: World, identity: Identity | None, timeout: float = 15.0) -> None:
        self.identity = identity
        self.http = httpx.Client(verify=client_context(world, identity), timeout=timeout)

    def call(
        self,
        url: str,
        route: str = ROUTE,
        purpose: str | None = PURPOSE,
        *,
        method: str = METHOD,
        content: bytes | None = None,
    ) -> Answer:
        headers = {} if purpose is None else {"Consortium-Purpose": purpose}
        response = self.http.request(method, url + route, headers=headers, content=content)
        try:
            body = response.json()
        except ValueError:
            body = response.content
        reason = body.get("reason") if isinstance(body, dict) and response.status_code >= 400 else None
        if reason is not None:
            assert response.headers.get("Consortium-Denial-Reason") == reason, response.headers
        event_id = response.headers.get("Consortium-Event-Id")
        if event_id is not None and reason is not None:
            assert body.get("event_id") == event_id, body
        return Answer(response.status_code, reason, event_id, response.headers, body)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def check_recorded(
    events: Iterable[Mapping[str, Any]], answers: Iterable[Answer], caller_org: str | None = None
) -> None:
    """``events`` are exactly the events of the recorded ``answers``, one each, with the decision, denial
    reason and status each caller was given; answers without an event id have none."""
    events = list(events)
    counts = Counter(e["event_id"] for e in events)
    assert all(n == 1 for n in counts.values()), [i for i, n in counts.items() if n > 1]
    by_id = {e["event_id"]: e for e in events}
    recorded = [a for a in answers if a.recorded]
    assert set(by_id) == {a.event_id for a in recorded}, (sorted(by_id), [a.event_id for a in recorded])
    for answer in recorded:
        event = by_id[answer.event_id]
        if answer.reason is None:
            assert (event["decision"], event["denial_reason"]) == ("allow", None), event
        else:
            assert (event["decision"], event["denial_reason"]) == ("deny", answer.reason), event
        assert event["status"] == answer.status, (event, answer.status)
        assert event["provider_org"] == PROVIDER and event["gateway_id"] == answer.headers["Consortium-Gateway"]
        if caller_org is not None:
            assert event["caller_org"] == caller_org, event


# -- the servers ------------------------------------------------------------------------------------------------


class LoopThread:
    """An asyncio event loop in a daemon thread; ``run`` executes a coroutine on it and waits for the result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-test-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context, backlog=1024)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def _serve_gateway(gateway: Gateway, ssl_context: ssl.SSLContext) -> tuple[web.AppRunner, asyncio.Server, int]:
    """``gateway``'s calls served as ``gateway.service.serve`` serves them (``gateway.server.listen``: each
    connection judged once its handshake is done)."""
    runner = web.AppRunner(gateway.app(), access_log=None, handle_signals=False)
    await runner.setup()
    listener = await listen(gateway, runner, "127.0.0.1", 0, ssl_context)
    return runner, listener, int(listener.sockets[0].getsockname()[1])


async def _stop_gateway(runner: web.AppRunner, listener: asyncio.Server) -> None:
    listener.close()
    await runner.cleanup()


#: Headers of the gateway's namespace the test service adds to every answer: none may reach a caller.
FORGED_HEADERS: dict[str, str] = {"Consortium-Denial-Reason": "forged_by_service", "Consortium-Forged": "1"}


class Upstream:
    """The provider's service behind the gateway: answers every request with JSON describing it, and with
    :data:`FORGED_HEADERS`, which the gateway must drop."""

    def __init__(self, loop: LoopThread) -> None:
        self._loop = loop
        self.served: list[tuple[str, str, str | None]] = []  # (method, path, Consortium-Caller-Org)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, port = loop.run(_serve(app))
        self.url = f"http://127.0.0.1:{port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        caller = request.headers.get("Consortium-Caller-Org")
        self.served.append((request.method, request.path, caller))
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "caller_org": caller,
                "event_id": request.headers.get("Consortium-Event-Id"),
                "bytes": len(body),
            },
            headers=FORGED_HEADERS,
        )

    def close(self) -> None:
        self._loop.run(self._runner.cleanup())


class LiveGateway:
    """The gateway ``alpha/<name>`` in proxy mode on a loopback port, built from its real parts as
    ``gateway.service.serve`` builds it. Without ``notary_url`` nothing ships: the events stay in the
    outbox, where :meth:`recorded_since` reads them. ``suite`` is the vault's: ``sm`` salts and digests with SM3
    (events of schema version 3); ``crl_clock``: the authenticator's, which times its looks at the CRLs;
    ``chain_clock``: the chain view's, which its staleness bound ``stale_s`` is counted in; ``quota``: where the
    quotas are counted (the outbox if None; the caller closes one it passes)."""

    def __init__(
        self,
        world: World,
        chain: GatewayChain,
        loop: LoopThread,
        upstream: str,
        outbox_dir: Path,
        *,
        notary_url: str | None = None,
        name: str = "gateway",
        poll_s: float = 0.05,
        stale_s: float = 30.0,
        max_pending: int = 1_000_000,
        settings: dict[str, Any] | None = None,
        follow_trust: bool = False,
        psi: PsiGuard | None = None,
        suite: str = "intl",
        crl_clock: Callable[[], float] = time.monotonic,
        chain_clock: Callable[[], float] = time.time,
        quota: QuotaCounter | None = None,
    ) -> None:
        self._loop = loop
        self._notary_url = notary_url
        key = world.gateway_key()
        self.chain = ChainView(
            chain.backend, chain.contracts, PROVIDER, poll_s=poll_s, stale_s=stale_s, clock=chain_clock
        )
        self.chain.start()
        self.trust: TrustView | None = None
        if follow_trust:  # the member CAs and revoked serials from the TrustDirectory, as `gateway serve` does
            self.trust = TrustView(chain.backend, chain.contracts["TrustDirectory"], poll_s=poll_s)
            self.trust.start()
        self.auth = CallerAuthenticator(
            world.description, world.root, self.chain.member_status, trust=self.trust, crl_clock=crl_clock
        )
        gateway_settings = GatewaySettings(
            org=PROVIDER, name=name, log_origin=log_origin(world.description), mode="proxy", upstream=upstream,
            **(settings or {}),
        )  # fmt: skip
        self.gateway_id = gateway_settings.gateway_id
        self.outbox = Outbox(outbox_dir / f"{name}.outbox.db", gateway_settings.gateway_id, max_pending=max_pending)
        self.outbox.start()
        self.shipper: Shipper | None = None
        if notary_url is not None:
            self.shipper = Shipper(
                self.outbox,
                notary_url,
                gateway_settings.gateway_id,
                key,
                gather_s=0.01,
                backoff_initial_s=0.05,
                backoff_max_s=0.5,
            )
            self.shipper.start()
        self.gateway = Gateway(
            gateway_settings,
            self.auth,
            self.chain,
            self.outbox,
            SaltVault.for_gateway_key(outbox_dir / "vault", PROVIDER, key, suite=suite),
            shipper_status=self.shipper.status if self.shipper else None,
            psi=psi,
            quota=quota,
        )
        paths = OrgPaths.of(world.root, OrgId(PROVIDER))
        context = self.auth.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, PASS)
        self._runner, self._listener, port = loop.run(_serve_gateway(self.gateway, context))
        self.url = f"https://localhost:{port}"

    def recorded_since(self, seq: int, notary: NotaryProcess | None = None) -> list[dict[str, Any]]:
        """The events with gateway_seq > ``seq``: from the notary once everything is shipped, or the outbox."""
        if self.shipper is None:
            return [e for _, data in self.outbox.pending(1_000_000) if (e := json.loads(data))["gateway_seq"] > seq]
        assert notary is not None
        assert self.shipper.drain(20), f"the outbox did not drain to the notary: {self.shipper.status()}"
        return [e for e in notary_events(notary, self.gateway_id) if e["gateway_seq"] > seq]

    def close(self) -> None:
        self._loop.run(_stop_gateway(self._runner, self._listener))
        if self.shipper is not None:
            self.shipper.stop()
        self.outbox.close()
        self.chain.stop()
        if self.trust is not None:
            self.trust.stop()


def notary_events(notary: NotaryProcess, gateway_id: str | None = None) -> list[dict[str, Any]]:
    """The notary's log, decoded, in index order (only ``gateway_id``'s events if given)."""
    events = [json.loads(entry) for entry in notary.entries()]
    return [e for e in events if gateway_id is None or e["gateway_id"] == gateway_id]


class GatewayProcess:
    """``consortium gateway serve`` for ``alpha`` as a process (``python -m cli.main``), on fixed ports; one
    ``replica`` of several (its id ``alpha/<name>-<replica>``), counting quotas in ``quota_store`` if given."""

    def __init__(
        self,
        world: World,
        upstream: str,
        notary_url: str,
        log: Path,
        name: str = "gateway",
        *,
        replica: str | None = None,
        quota_store: str | None = None,
    ) -> None:
        self.world = world
        self.name = name
        self.replica = replica
        self.quota_store = quota_store
        full_name = name if replica is None else f"{name}-{replica}"
        self.gateway_id = f"{PROVIDER}/{full_name}"
        self.outbox_path = world.root / "gateways" / PROVIDER / f"{full_name}.outbox.db"
        self.port, self.admin_port = free_port(), free_port()
        self.url = f"https://localhost:{self.port}"
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        self.upstream = upstream
        self.notary_url = notary_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        argv = [
            sys.executable, "-m", "cli.main", "gateway", "serve", str(self.world.root), "--org", PROVIDER,
            "--name", self.name,
            "--port", str(self.port), "--admin-port", str(self.admin_port), "--upstream", self.upstream,
            "--notary-url", self.notary_url, "--poll", "0.05",
        ]  # fmt: skip
        if self.replica is not None:
            argv += ["--replica", self.replica]
        if self.quota_store is not None:
            argv += ["--quota-store", self.quota_store]
        env = {**os.environ, "CONSORTIUM_PASSPHRASE": PASS.decode(), "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)

        with httpx.Client(timeout=1) as looks:  # one client for every look: a new one costs about 20 ms of CPU

            def serving() -> bool:
                assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    return looks.get(self.admin + "/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(serving, "the gateway process to serve", timeout, every=0.05)

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.admin + "/healthz", timeout=5).json()
        return result

    def kill(self) -> None:
        """``kill -9``."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
