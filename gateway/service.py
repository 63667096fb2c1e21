"""Run one gateway process: wire the chain view, the caller authenticator, the outbox, the shipper and the HTTP
side together, serve until SIGTERM, and stop in the order that loses nothing (stop accepting calls, let the
calls in flight finish and their events commit, ship what can be shipped, close the outbox).

Files of a gateway, under the consortium directory::

    gateways/<org>/<name>.outbox.db the durable outbox of gateway <org>/<name> (and its quota counts, unless
                                    ``--quota-store`` counts them in PostgreSQL, shared by the org's replicas)
    gateways/<org>/vault/           the org's salt vault: an epoch key per UTC day (notary.submit.vault)
    gateways/<org>/gateway.log      its JSON log, when started by ``consortium up``
    gateways/<org>/<name>.verified-header.json
                                    the last block header it accepted from the founding validators, to resume
                                    from at its next start (network.keptheader)
    orgs/<org>/gateway/tls/         its TLS server certificate and key, issued by the org's CA
    orgs/<org>/privacy/*.terms.json the PSI terms of the org's identifier sets, checked on each step of a job
                                    (gateway.psi)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from chain.backend import ClientTls, RpcBackend
from chain.ids import OrgId
from gateway.policy import ChainView
from gateway.psi import PsiGuard, load_grant_terms, load_terms
from gateway.quota import PostgresQuota, QuotaSchemaError, QuotaUnavailableError, open_quota_store, redact
from gateway.server import Gateway, GatewaySettings, listen
from network.admission import org_roles
from network.certificates import CallerAuthenticator
from network.description import ConsortiumDescription
from network.gatewaykeys import following_gateway_key
from network.grantterms import TermsStore, trusted_heads
from network.identity import issue_server_certificate, load_gateway_key
from network.logsetup import log_origin, notary_client_tls
from network.shredding import gateway_vault
from network.trust import has_directory, trust_view
from notary.submit.outbox import Outbox
from notary.submit.shipper import Shipper
from notary.submit.vault import SaltVault

log = logging.getLogger("gateway")

GATEWAY_DIR = "gateways"
#: A gateway keeps its newest trusted header every this many headers (about ten minutes at one block a second),
#: and as it stops: a crash costs the next start at most this many headers to check again.
KEEP_EVERY = 600


def outbox_path(directory: Path, org: str, name: str) -> Path:
    return directory / GATEWAY_DIR / org / f"{name}.outbox.db"


def kept_header_path(directory: Path, org: str, name: str) -> Path:
    return directory / GATEWAY_DIR / org / f"{name}.verified-header.json"


def tls_paths(directory: Path, org: str) -> tuple[Path, Path]:
    base = directory / "orgs" / org / "gateway" / "tls"
    return base / "cert.pem", base / "key.pem"


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    directory: Path
    org: OrgId
    name: str = "gateway"
    host: str = "127.0.0.1"
    port: int = 8565
    admin_port: int = 8575
    mode: str = "proxy"
    upstream: str | None = None
    notary_url: str = "http://127.0.0.1:8546"
    chain_url: str | None = None
    poll_s: float = 0.1
    stale_s: float = 30.0
    max_pending: int = 1_000_000
    max_body_bytes: int = 1024 * 1024
    upstream_timeout_s: float = 30.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 10.0
    max_in_flight: int = 64
    quota_store: str | None = None  # postgresql:// URL shared by the org's replicas; None: the outbox counts
    chain_tls: ClientTls | None = None  # a client certificate of the org's, for a node serving members only


async def serve(options: GatewayOptions, description: ConsortiumDescription, passphrase: bytes) -> None:
    """Run the gateway until cancelled (SIGTERM and SIGINT cancel it)."""
    # a clear error for an org that is neither a founder nor the firm that joined from this directory
    org_roles(options.directory, description, options.org)
    # the consortium's suite: Ed25519 under intl, SM2 under sm (its batches then carry SM2 signatures)
    key = load_gateway_key(options.directory, options.org, passphrase, description.crypto)
    reads = RpcBackend(options.chain_url or description.chain_url, tls=options.chain_tls)
    chain = ChainView(
        reads,
        description.contracts,
        options.org,
        poll_s=options.poll_s,
        stale_s=options.stale_s,
        terms=TermsStore(options.directory, options.org),
        # private grants' words proven (docs/confidentiality.md), from the header this gateway kept last
        proven=trusted_heads(
            reads, description, kept_header_path(options.directory, options.org, options.name), keep_every=KEEP_EVERY
        ),
    )
    chain.start()
    trust = None
    if has_directory(description):  # the member CAs and revoked serials as the chain says now (docs/trust.md)
        trust = trust_view(description, options.chain_url, poll_s=options.poll_s, tls=options.chain_tls)
        try:
            trust.refresh()  # read now (a chain that does not answer stops the start), then followed without a thread:
        except BaseException:
            chain.stop()
            raise
        chain.follow(trust.follow)  # the chain view's watcher hands it each head it polls, one poll for both
    authenticator = CallerAuthenticator(description, options.directory, chain.member_status, trust=trust)
    settings = GatewaySettings(
        org=options.org,
        name=options.name,
        log_origin=log_origin(description),
        mode=options.mode,
        upstream=options.upstream,
        upstream_timeout_s=options.upstream_timeout_s,
        breaker_failures=options.breaker_failures,
        breaker_cooldown_s=options.breaker_cooldown_s,
        max_in_flight=options.max_in_flight,
        max_body_bytes=options.max_body_bytes,
    )
    path = outbox_path(options.directory, options.org, options.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(path, settings.gateway_id, max_pending=options.max_pending)
    outbox.start()
    quota = open_quota_store(options.quota_store, outbox)
    if isinstance(quota, PostgresQuota):
        try:  # not fatal: until it is reachable, calls under a quota are refused (503 quota_unavailable)
            await asyncio.get_running_loop().run_in_executor(None, quota.ensure_schema)
            log.info("gateway %s counts quotas in %s", settings.gateway_id, redact(quota.url))
        except QuotaSchemaError:  # fatal: a later release migrated the store
            quota.close()
            outbox.close()
            chain.stop()
            if trust is not None:
                trust.stop()
            raise
        except QuotaUnavailableError as exc:
            log.error("gateway %s: %s; calls under a quota are refused until it is back", settings.gateway_id, exc)
    notary_tls = None
    if options.notary_url.startswith("https://"):  # a notary served over mutual TLS: its org's log identity
        notary_tls = notary_client_tls(options.directory, description, options.org, passphrase)
    next_key, signing = None, key
    if trust is not None:  # a key rotated on chain (`gateway rotate-key`) is signed with once valid, no restart
        next_key = following_gateway_key(trust, options.directory, options.org, passphrase, description.crypto)
        signing = next_key.start()  # started between a rotation and its new key's block: the key kept, valid then
    shipper = Shipper(outbox, options.notary_url, settings.gateway_id, signing, tls=notary_tls, next_key=next_key)
    shipper.start()
    vault = SaltVault.open(  # its salts and the digests are of the suite: HKDF-SM3 and HMAC-SM3 under sm
        gateway_vault(options.directory, options.org), options.org, passphrase, legacy_key=key, suite=description.crypto
    )
    documents = load_terms(options.directory, options.org)
    grant_documents = {asset: load_grant_terms(options.directory, options.org, asset) for asset in documents}
    psi = PsiGuard(documents, options.org, description.crypto, grant_documents) if documents else None
    if psi is not None:
        log.info("gateway %s enforces the PSI terms of %s", settings.gateway_id, ", ".join(psi.assets))
    gateway = Gateway(
        settings, authenticator, chain, outbox, vault, shipper_status=shipper.status, quota=quota, psi=psi
    )
    ssl_context = None
    if options.mode == "proxy":
        cert, key_file = tls_paths(options.directory, options.org)
        if not cert.exists():
            issue_server_certificate(options.directory, options.org, passphrase)
        ssl_context = authenticator.server_ssl_context(cert, key_file, passphrase)
    runner = web.AppRunner(gateway.app(), access_log=None, handle_signals=False)
    admin = web.AppRunner(gateway.admin_app(), access_log=None, handle_signals=False)
    await runner.setup()
    await admin.setup()
    calls: asyncio.Server | None = None
    try:
        # a connection whose certificate the verdict refuses is answered and closed once its handshake is done
        calls = await listen(gateway, runner, options.host, options.port, ssl_context)
        await web.TCPSite(admin, "127.0.0.1", options.admin_port).start()
        scheme = "https" if ssl_context else "http"
        log.info(
            "gateway %s (%s mode) serving %d APIs on %s://%s:%d, admin on http://127.0.0.1:%d",
            settings.gateway_id,
            options.mode,
            len(chain.services()),
            scheme,
            options.host,
            options.port,
            options.admin_port,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("gateway %s stopping", settings.gateway_id)
    finally:
        if calls is not None:
            calls.close()  # stops accepting
        await runner.cleanup()  # closes idle connections, waits for the calls in flight
        await admin.cleanup()
        outbox_drained = await asyncio.get_running_loop().run_in_executor(None, shipper.drain, 2.0)
        shipper.stop()
        quota.close()
        outbox.close()
        chain.stop()
        if trust is not None:
            trust.stop()
        if not outbox_drained:
            log.warning(
                "gateway %s stopped with events still to ship; they ship at the next start", settings.gateway_id
            )


def run(options: GatewayOptions, description: ConsortiumDescription, passphrase: bytes) -> None:
    try:
        import uvloop

        uvloop.run(serve(options, description, passphrase))
    except ImportError:  # pragma: no cover - uvloop is a dependency on every platform we run on
        asyncio.run(serve(options, description, passphrase))
