"""A consortium on our own node for the gateway's tests: a provider's catalogue and a grant, ready to call.

``start_gateway_chain()`` (or ``with gateway_chain() as chain:``) gives a fresh :class:`NodeBackend` (our node
over real JSON-RPC on loopback, a block every 10 ms when there is something to seal) with the five founders of
``tests/conftest.py`` and this catalogue:

* center ``market-data`` with unit ``quotes`` (added by the operator ``op``);
* asset ``eq-quotes`` owned by the provider ``alpha``, served by two active APIs, ``quotes-get``
  (``GET /v1/quotes``) and ``quotes-search`` (``POST /v1/quotes/search``), and a retired one, ``quotes-old``
  (``GET /v0/quotes``);
* asset ``bond-prices`` owned by ``gamma`` with its API ``bonds-get`` (``GET /v1/bonds``): another org's
  service, which ``alpha``'s gateway must not serve;
* a grant of ``eq-quotes`` to ``beta`` for purpose ``risk-control``, valid from a minute ago for a day, with
  a quota of ``QUOTA`` calls (``chain.grant_id``, "0x" and 64 hex digits).

``chain.contracts`` is ``{contract name: address}`` as in consortium.json's "contracts"; ``chain.signers`` holds
one Signer per org. The helpers send one transaction each and return its block number, so a test can wait until
a gateway's watcher has processed that block (``wait_for_head``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from web3.types import TxReceipt

from chain.ids import AssetKind
from chain.tx import Signer
from tests.support.consortium import Consortium, Keys, NodeBackend, deploy_test_consortium
from tests.support.wait import wait_until

PROVIDER = "alpha"
GRANTEE = "beta"
OTHER = "gamma"
REGULATOR = "reg"
OPERATOR = "op"

CENTER = "market-data"
UNIT = "quotes"
ASSET = "eq-quotes"
PURPOSE = "risk-control"
QUOTA = 100
API = "quotes-get"
ROUTE = "/v1/quotes"
METHOD = "GET"
SEARCH_API = "quotes-search"
SEARCH_ROUTE = "/v1/quotes/search"
RETIRED_API = "quotes-old"
RETIRED_ROUTE = "/v0/quotes"
OTHER_ASSET = "bond-prices"
OTHER_API = "bonds-get"
OTHER_ROUTE = "/v1/bonds"


def digest(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def hex_id(grant_id: bytes) -> str:
    """A grant id as the gateway writes it: "0x" and 64 lower-case hex digits."""
    return "0x" + grant_id.hex()


def _block(receipt: TxReceipt) -> int:
    return int(receipt["blockNumber"])


class _HasHead(Protocol):
    @property
    def head(self) -> int: ...


def wait_for_head(view: _HasHead, block: int, timeout: float = 30.0) -> None:
    """Wait until ``view.head >= block`` (a gateway's watcher has processed it); ``timeout`` only bounds a hang."""
    try:
        wait_until(lambda: view.head >= block, f"the watcher to reach block {block}", timeout, every=0.002)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: it is at block {view.head}") from None


@dataclass
class GatewayChain:
    """A deployed consortium on a NodeBackend with the catalogue of the module docstring."""

    consortium: Consortium
    grant_id: str

    @property
    def backend(self) -> NodeBackend:
        backend = self.consortium.backend
        assert isinstance(backend, NodeBackend)
        return backend

    @property
    def contracts(self) -> dict[str, str]:
        return dict(self.consortium.deployment.addresses)

    @property
    def signers(self) -> dict[str, Signer]:
        return self.consortium.signers

    def now(self) -> int:
        """Timestamp of the latest block."""
        return self.consortium.now()

    def head(self) -> int:
        return int(self.backend.web3.eth.block_number)

    # -- grants --
    def grant(
        self,
        grantee: str = GRANTEE,
        purpose: str = PURPOSE,
        *,
        asset: str = ASSET,
        owner: str = PROVIDER,
        not_before: int | None = None,
        expires_at: int | None = None,
        quota: int = 0,
    ) -> str:
        """Create a grant (by default valid from a minute ago for a day, unlimited); its id as "0x…"."""
        now = self.now()
        start = now - 60 if not_before is None else not_before
        end = now + 86400 if expires_at is None else expires_at
        raw = self.consortium.grants.create_grant(self.signers[owner], asset, grantee, purpose, start, end, quota)
        return hex_id(raw)

    def grant_block(self, grant_id: str) -> int:
        """The block in which a grant was created."""
        events = self.consortium.grants.events("GrantCreated", filters={"grant_id": bytes.fromhex(grant_id[2:])})
        return int(events[0]["blockNumber"])

    def revoke(self, grant_id: str | None = None, reason: int = 1, *, owner: str = PROVIDER) -> int:
        gid = self.grant_id if grant_id is None else grant_id
        return _block(self.consortium.grants.revoke(self.signers[owner], bytes.fromhex(gid[2:]), reason))

    # -- members (the regulator's supervisory freeze, effective at once) --
    def suspend(self, org: str) -> int:
        return _block(self.consortium.registry.suspend(self.signers[REGULATOR], org))

    def reinstate(self, org: str) -> int:
        return _block(self.consortium.registry.reinstate(self.signers[REGULATOR], org))

    # -- assets and the catalogue --
    def register_asset(self, asset: str, owner: str = PROVIDER) -> int:
        return _block(
            self.consortium.assets.register_asset(
                self.signers[owner], asset, AssetKind.API, digest(f"{asset} v1"), digest(f"{asset} metadata"), 2
            )
        )

    def add_version(self, asset: str = ASSET, owner: str = PROVIDER) -> int:
        """Register a new version of ``asset``; returns the new version number."""
        return self.consortium.assets.add_version(
            self.signers[owner], asset, digest(f"{asset} {time.time_ns()}"), digest(f"{asset} metadata"), 2
        )

    def register_api(
        self, api: str, route: str, method: str = METHOD, *, asset: str = ASSET, owner: str = PROVIDER
    ) -> int:
        return _block(self.consortium.assets.register_api(self.signers[owner], api, UNIT, route, method, asset))

    def retire_api(self, api: str, owner: str = PROVIDER) -> int:
        return _block(self.consortium.assets.retire_api(self.signers[owner], api))

    def retire_asset(self, asset: str = ASSET, owner: str = PROVIDER) -> int:
        return _block(self.consortium.assets.retire_asset(self.signers[owner], asset))

    def transfer(self, asset: str = ASSET, to_org: str = OTHER, owner: str = PROVIDER) -> int:
        """Offer ``asset`` to ``to_org`` and accept it there; the block of the acceptance."""
        self.consortium.assets.offer_transfer(self.signers[owner], asset, to_org)
        return _block(self.consortium.assets.accept_transfer(self.signers[to_org], asset))

    def close(self) -> None:
        self.backend.close()


def start_gateway_chain() -> GatewayChain:
    """Deploy a fresh consortium on a new node and register the catalogue and the grant (about a second)."""
    keys = Keys.create()
    backend = NodeBackend(keys.deployer)
    try:
        consortium = deploy_test_consortium(backend, keys)
        op, provider, other = (consortium.signers[o] for o in (OPERATOR, PROVIDER, OTHER))
        assets = consortium.assets
        assets.add_center(op, CENTER, "Market data")
        assets.add_unit(op, UNIT, CENTER, "Equity quotes")
        chain = GatewayChain(consortium, grant_id="")
        chain.register_asset(ASSET, PROVIDER)
        chain.register_api(API, ROUTE, METHOD)
        chain.register_api(SEARCH_API, SEARCH_ROUTE, "POST")
        chain.register_api(RETIRED_API, RETIRED_ROUTE, METHOD)
        assets.retire_api(provider, RETIRED_API)
        chain.register_asset(OTHER_ASSET, OTHER)
        assets.register_api(other, OTHER_API, UNIT, OTHER_ROUTE, METHOD, OTHER_ASSET)
        chain.grant_id = chain.grant(GRANTEE, PURPOSE, quota=QUOTA)
        return chain
    except BaseException:
        backend.close()
        raise


@contextmanager
def gateway_chain() -> Iterator[GatewayChain]:
    chain = start_gateway_chain()
    try:
        yield chain
    finally:
        chain.close()
