"""What the probe makes of the components' answers, and the webhook sender's bounded queue (not started: no
socket)."""

from __future__ import annotations

from network.alarms.probe import NodeTarget, gateway_probe, node_probe, notary_probe
from network.alarms.rules import GatewayProbe, NodeProbe, NotaryProbe
from network.alarms.webhook import WebhookSender


def test_a_node_from_its_status_or_its_silence() -> None:
    target = NodeTarget("alpha", True, "http://127.0.0.1:1")
    status = {"inSync": True, "inQuorum": False, "missedProposalsBy": {"0xAbC": 3}}
    assert node_probe(target, status) == NodeProbe("alpha", True, True, True, False, {"0xabc": 3})
    assert node_probe(target, None) == NodeProbe("alpha", True, up=False)
    record = {"abstaining": True, "abstainedHeights": 1, "signedConflictsRefused": 2}
    assert node_probe(target, record) == NodeProbe(
        "alpha", True, True, abstaining=True, abstained_heights=1, conflicts_refused=2
    )
    refused = {"peerWithheld": {"messages": 2, "transactions": 1, "status": 4}, "peerRequestsRefused": 3}
    assert node_probe(target, refused) == NodeProbe("alpha", True, True, peer_withheld=7, peer_requests_refused=3)


def test_the_notary_from_its_health() -> None:
    health = {"size": 9, "published_size": 8, "anchored_size": 5, "gaps": 1, "anchoring": {"last_error": "no chain"}}
    assert notary_probe(health) == NotaryProbe(True, 9, 8, 5, "no chain", True, 1)
    assert notary_probe({"size": 1, "anchoring": None}).anchoring is False
    assert notary_probe(None) == NotaryProbe(up=False)


def test_a_gateway_from_its_health() -> None:
    assert gateway_probe("beta", {"outbox": {"pending": 7, "max_pending": 10}}) == GatewayProbe("beta", True, 7, 10)
    assert gateway_probe("beta", None) == GatewayProbe("beta", up=False)


def test_a_gateways_quota_store_from_its_health() -> None:
    down = {"outbox": {}, "quota": {"store": "postgresql", "reachable": False, "refused": 3}}
    assert gateway_probe("beta", down) == GatewayProbe("beta", True, quota_store="postgresql", quota_reachable=False)
    up = {"quota": {"store": "postgresql", "reachable": True}}
    assert gateway_probe("beta", up) == GatewayProbe("beta", True, quota_store="postgresql")
    local = {"quota": {"store": "local", "reachable": True}}  # counted in its own outbox: nothing to reach
    assert gateway_probe("beta", local) == GatewayProbe("beta", True)


def test_a_full_queue_drops_its_oldest_document_and_never_blocks() -> None:
    sender = WebhookSender("http://127.0.0.1:1/never", queue_size=3)
    for n in range(5):
        sender.send({"n": n})
    assert sender.status() == {"url": "http://127.0.0.1:1/never", "queued": 3, "delivered": 0, "dropped": 2}
    sender.close()
