"""A running gateway follows the TrustDirectory, no restart: a member admitted after the gateway started puts its
CA certificate on chain and its callers are authenticated from the next connection on; a serial revoked on chain
is refused from the block that revokes it; a CA retired on chain issues no caller any more. The gateway of
``alpha`` is built from its real parts over mutual TLS (``gateway_world``), its chain a real node over JSON-RPC.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts import KeyKind
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from chain.tx import Signer
from network.identity import OrgPaths, load_account_key
from tests.integration.gateway.gateway_chain import (
    GRANTEE,
    OTHER,
    GatewayChain,
    wait_for_head,
)
from tests.integration.gateway.gateway_world import (
    PASS,
    Caller,
    LiveGateway,
    LoopThread,
    Upstream,
    World,
    lagging_gateway_chain,
)

NEWCOMER = "delta"  # in consortium.json, never admitted on chain until a test admits it


def ca_der(world: World, org: str) -> bytes:
    pem = OrgPaths.of(world.root, OrgId(org)).ca_cert.read_bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def trust_of(gateway: LiveGateway) -> TrustView:
    assert gateway.trust is not None
    return gateway.trust


@pytest.fixture(scope="module")
def chain() -> Iterator[GatewayChain]:
    with lagging_gateway_chain() as lagging:
        yield lagging


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, world: World, chain: GatewayChain) -> Iterator[LiveGateway]:
    loop = LoopThread()
    upstream = Upstream(loop)
    live = LiveGateway(world, chain, loop, upstream.url, tmp_path_factory.mktemp("gateway"), follow_trust=True)
    yield live
    live.close()
    upstream.close()
    loop.close()


def test_a_member_admitted_later_is_served_once_its_ca_is_on_chain(
    world: World, chain: GatewayChain, gateway: LiveGateway
) -> None:
    with Caller(world, world.identity(NEWCOMER)) as newcomer, pytest.raises(httpx.TransportError):
        newcomer.call(gateway.url)  # its CA is in no trust store: the handshake fails
    signer = Signer.from_key(load_account_key(world.root, OrgId(NEWCOMER), PASS))
    registry = chain.consortium.registry
    proposal = registry.propose_admit(
        chain.signers[GRANTEE], NEWCOMER, "Delta Securities", Role.MEMBER, b"\1" * 32, [signer.address]
    )
    assert registry.approve(chain.signers[OTHER], proposal)
    chain.consortium.trust.add_key(signer, KeyKind.CA_CERT, ca_der(world, NEWCOMER))
    wait_for_head(trust_of(gateway), chain.head(), timeout=15)
    with Caller(world, world.identity(NEWCOMER)) as newcomer:
        refused = newcomer.call(gateway.url, purpose="newcomer")
        assert (refused.status, refused.reason) == (403, "no_grant")  # authenticated as delta; no grant yet
        chain.grant(NEWCOMER, "newcomer")
        wait_for_head(gateway.chain, chain.head(), timeout=15)
        assert newcomer.call(gateway.url, purpose="newcomer").status == 200


def test_a_serial_revoked_on_chain_is_refused_from_its_block(
    world: World, chain: GatewayChain, gateway: LiveGateway
) -> None:
    chain.grant(GRANTEE, "revocation")
    revoked, colleague = world.identity(GRANTEE, "revoked"), world.identity(GRANTEE, "second")
    with Caller(world, revoked) as caller, Caller(world, colleague) as other:
        wait_for_head(gateway.chain, chain.head(), timeout=15)
        assert caller.call(gateway.url, purpose="revocation").status == 200
        chain.consortium.trust.revoke_serial(chain.signers[GRANTEE], serial_of(revoked.cert))
        wait_for_head(trust_of(gateway), chain.head(), timeout=15)
        after = caller.call(gateway.url, purpose="revocation")  # the same connection: checked per request
        assert (after.status, after.reason) == (401, "certificate_revoked")
        assert other.call(gateway.url, purpose="revocation").status == 200


def test_a_ca_retired_on_chain_issues_no_caller(world: World, chain: GatewayChain, gateway: LiveGateway) -> None:
    trust = chain.consortium.trust
    index = trust.find(OTHER, KeyKind.CA_CERT, ca_der(world, OTHER))
    assert index is not None
    with Caller(world, world.identity(OTHER)) as caller:
        assert caller.call(gateway.url, purpose="gamma-none").reason == "no_grant"
        receipt = trust.retire_key(chain.signers[OTHER], index)
        wait_for_head(trust_of(gateway), int(receipt["blockNumber"]), timeout=15)
        answer = caller.call(gateway.url, purpose="gamma-none")
        assert (answer.status, answer.reason) == (401, "unknown_issuer")


def test_a_member_cannot_vouch_for_another_members_ca(world: World, chain: GatewayChain, gateway: LiveGateway) -> None:
    """gamma records beta's CA as its own: the gateway ignores it (its OU names beta), and beta's callers are
    still beta's."""
    chain.consortium.trust.add_key(chain.signers[OTHER], KeyKind.CA_CERT, ca_der(world, GRANTEE))
    chain.grant(GRANTEE, "vouching")
    wait_for_head(trust_of(gateway), chain.head(), timeout=15)
    wait_for_head(gateway.chain, chain.head(), timeout=15)
    with Caller(world, world.identity(GRANTEE, "second")) as caller:
        answer = caller.call(gateway.url, purpose="vouching")
        assert answer.status == 200, answer
