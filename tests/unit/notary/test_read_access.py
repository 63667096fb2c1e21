"""The notary's read API with authenticated reads: each role against each kind of read, and bad credentials.

Parties of the one event: ``jinghua-sec`` (caller) and ``shuzhi-tech`` (provider, its gateway recorded it).
``other-firm`` is a member that is not a party, ``csrc`` the regulator, ``op/explorer`` the trusted explorer,
``alpha/witness`` a witness. Gaps: ``shuzhi-tech/gw-1`` and ``other-firm/gw-2`` (``_gaps_world``). People log
in with a bearer token, checked by a stand-in of the network's login check (``Bearer person:<org>[:regulator]``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from notary.api import create_app
from notary.checkpointer import WitnessPolicy
from notary.readauth import MAX_SKEW_S, ReadAccess, SignedReads, UnauthenticatedError, sign_read
from notary.sequencer import batch_request
from notary.service import NotaryService, NotarySettings
from tests.support.notary_events import event

NOW = 1_795_000_000.0
EVENT = "4f0c9d1e-8f52-4a7b-9d55-0b7c1d2e3f40"
ORGS = ("jinghua-sec", "shuzhi-tech", "other-firm", "csrc", "op")
EVENT_READS = (f"/v1/entries/{EVENT}", f"/v1/receipts/{EVENT}", f"/v1/evidence/{EVENT}")
MONITOR_TOKEN = "monitor-token-of-the-test"
MEMBER_READS = ("/tile/0/000.p/1", "/v1/checkpoints", "/v1/anchors", "/v1/proofs/consistency?from=0&to=1")


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def person(authorization: str) -> tuple[str, bool]:
    kind, _, rest = authorization.partition(" ")
    parts = rest.split(":")
    if kind != "Bearer" or parts[0] != "person" or len(parts) < 2:
        raise UnauthenticatedError("bad login token")
    return parts[1], parts[2:] == ["regulator"]


def certificate(pem: str) -> tuple[str, str, bool]:
    """A stand-in of the network's client certificate check: ``cert:<name>@<org>[:regulator]``."""
    parts = pem.split(":")
    if parts[0] != "cert" or len(parts) < 2 or "@" not in parts[1]:
        raise UnauthenticatedError("client certificate refused: unknown_issuer: not a member's")
    return parts[1], parts[1].partition("@")[2], parts[2:] == ["regulator"]


class Readers:
    """The app with one sequenced event, and the keys of every org and of the witness ``alpha``."""

    def __init__(self, directory: Path, *, subjects_see_regulator: bool = False) -> None:
        self.keys = {org: Ed25519PrivateKey.generate() for org in ORGS}
        self.witness_key = Ed25519PrivateKey.generate()
        self.service = NotaryService(
            NotarySettings(
                directory=directory,
                origin="test-consortium/audit-log",
                log_key=Ed25519PrivateKey.generate(),
                gateway_keys={org: raw(key) for org, key in self.keys.items()},
                witnesses=[],
                policy=WitnessPolicy(0, (), False, frozenset()),
                clock=lambda: NOW,
            )
        )
        body, headers = batch_request("shuzhi-tech/gw-1", [event(time_ms=int(NOW * 1000))], self.keys["shuzhi-tech"])
        self.service.sequencer.submit(
            headers["Consortium-Gateway"], body, base64.b64decode(headers["Consortium-Signature"])
        )
        self.access = ReadAccess(
            gateway_keys={org: raw(key) for org, key in self.keys.items()},
            witness_keys={"alpha": raw(self.witness_key), "op": raw(self.witness_key)},
            regulators={"csrc"},
            trusted={"op/explorer"},
            people=person,
            clock=lambda: NOW,
            monitor_token=MONITOR_TOKEN,
            subjects_see_regulator=subjects_see_regulator,
            certificates=certificate,
            operators=("op",),
        )
        self.client = TestClient(create_app(self.service, self.access))

    def signed(self, reader: str, path: str, at: float = NOW, key: Ed25519PrivateKey | None = None) -> int:
        org, _, name = reader.partition("/")
        key = key or (self.witness_key if name == "witness" else self.keys[org])
        status: int = self.client.get(path, headers=sign_read(reader, key, "GET", path, at)).status_code
        return status

    def bearer(self, token: str, path: str) -> int:
        status: int = self.client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code
        return status


@pytest.fixture
def readers(tmp_path: Path) -> Iterator[Readers]:
    r = Readers(tmp_path)
    yield r
    r.service.stop()


@pytest.mark.parametrize("reader", ["jinghua-sec/explorer", "shuzhi-tech/gw-1", "csrc/audit", "op/explorer"])
def test_parties_the_regulator_and_the_explorer_read_the_event(readers: Readers, reader: str) -> None:
    for path in EVENT_READS:
        assert readers.signed(reader, path) == 200, (reader, path)


def test_another_firm_gets_the_404_of_a_missing_event(readers: Readers) -> None:
    for path in EVENT_READS:
        refused = readers.client.get(
            path, headers=sign_read("other-firm/gw", readers.keys["other-firm"], "GET", path, NOW)
        )
        missing_path = path.replace(EVENT, "no-such-event")
        missing = readers.client.get(
            missing_path, headers=sign_read("csrc/audit", readers.keys["csrc"], "GET", missing_path, NOW)
        )
        assert refused.status_code == missing.status_code == 404
        assert refused.json()["error"] == missing.json()["error"].replace("no-such-event", EVENT)
    assert readers.signed("other-firm/gw", f"/v1/proofs/inclusion?event_id={EVENT}") == 404
    assert readers.signed("alpha/witness", f"/v1/entries/{EVENT}") == 404


def test_people_read_their_firms_events_and_the_regulator_every_event(readers: Readers) -> None:
    for path in EVENT_READS:
        assert readers.bearer("person:jinghua-sec", path) == 200
        assert readers.bearer("person:csrc:regulator", path) == 200
        assert readers.bearer("person:other-firm", path) == 404
    assert readers.bearer("not-a-token", EVENT_READS[0]) == 401


def test_an_explorer_query_is_read_by_the_querying_firm_not_by_the_operator_that_records_it(tmp_path: Path) -> None:
    r = Readers(tmp_path)
    try:
        query = event(
            event_id="5a1d0c9e-8f52-4a7b-9d55-0b7c1d2e3f41", caller_org="jinghua-sec", provider_org="op",
            center="explorer", unit="explorer", api="calls.search", method="GET", route="/api/v1/calls",
            asset_id=None, asset_version=None, grant_id=None, gateway_id="op/explorer", gateway_seq=1,
        )  # fmt: skip
        body, headers = batch_request("op/explorer", [query], r.keys["op"])
        signature = base64.b64decode(headers["Consortium-Signature"])
        r.service.sequencer.submit(headers["Consortium-Gateway"], body, signature)
        path = f"/v1/entries/{query['event_id']}"
        assert r.signed("jinghua-sec/gw", path) == 200
        assert r.bearer("person:jinghua-sec", path) == 200
        assert r.bearer("person:csrc:regulator", path) == 200
        assert r.signed("op/explorer", path) == 200  # the trusted reader indexes everything
        assert r.signed("op/gw-1", path) == 404  # the operator's own services are not a party
        assert r.bearer("person:op", path) == 404
    finally:
        r.service.stop()


@pytest.mark.parametrize("on", [False, True], ids=["policy-off", "policy-on"])
def test_a_regulators_query_is_read_by_its_subject_only_under_the_policy(tmp_path: Path, on: bool) -> None:
    r = Readers(tmp_path, subjects_see_regulator=on)
    try:
        queries = {}
        for seq, (caller, event_id) in enumerate(
            [("csrc", "6b2e1d0f-9a63-4b8c-8e66-1c8d2e3f4a52"), ("jinghua-sec", "7c3f2e1a-0b74-4c9d-9f77-2d9e3f4a5b63")],
            start=1,
        ):
            queries[caller] = event(
                event_id=event_id, caller_org=caller, provider_org="op", center="explorer", unit="explorer",
                api="calls.detail", method="GET", route="/api/v1/calls/x", asset_id=None, asset_version=None,
                grant_id=None, gateway_id="op/explorer", gateway_seq=seq, subject="jinghua-sec,shuzhi-tech",
            )  # fmt: skip
        body, headers = batch_request("op/explorer", list(queries.values()), r.keys["op"])
        signature = base64.b64decode(headers["Consortium-Signature"])
        r.service.sequencer.submit(headers["Consortium-Gateway"], body, signature)
        regulators = f"/v1/entries/{queries['csrc']['event_id']}"
        firms = f"/v1/entries/{queries['jinghua-sec']['event_id']}"
        subject = 200 if on else 404
        # the regulator's query of the call between jinghua-sec and shuzhi-tech
        assert r.bearer("person:jinghua-sec", regulators) == subject
        assert r.signed("jinghua-sec/gw", regulators) == subject
        assert r.bearer("person:shuzhi-tech", regulators) == subject
        assert r.bearer("person:other-firm", regulators) == 404
        assert r.bearer("person:csrc:regulator", regulators) == 200
        assert r.bearer("person:op", regulators) == 404  # the operator records it, and is not its subject
        assert r.signed("op/explorer", regulators) == 200  # the trusted reader indexes everything
        assert r.client.get(regulators).status_code == 401  # an outsider
        # a firm's own query is that firm's and the regulator's whatever the policy: not its subject's
        assert r.bearer("person:jinghua-sec", firms) == 200
        assert r.bearer("person:shuzhi-tech", firms) == 404
        assert r.bearer("person:other-firm", firms) == 404
        assert r.bearer("person:csrc:regulator", firms) == 200
        assert r.bearer("person:op", firms) == 404
        assert r.client.get(firms).status_code == 401
    finally:
        r.service.stop()


def test_entry_bundles_are_for_the_regulator_and_the_explorer(readers: Readers) -> None:
    path = "/tile/entries/000.p/1"
    assert readers.signed("op/explorer", path) == 200
    assert readers.signed("csrc/audit", path) == 200
    assert readers.bearer("person:csrc:regulator", path) == 200
    assert readers.signed("shuzhi-tech/gw-1", path) == 403  # a party, but the bundle is everyone's
    assert readers.signed("op/gw-1", path) == 403  # the operator's other services are not the explorer
    assert readers.signed("alpha/witness", path) == 403
    assert readers.bearer("person:jinghua-sec", path) == 403


def test_members_and_witnesses_read_hash_tiles_and_checkpoints(readers: Readers) -> None:
    for path in MEMBER_READS:
        assert readers.signed("other-firm/gw", path) == 200, path
        assert readers.signed("alpha/witness", path) == 200, path
        assert readers.bearer("person:other-firm", path) == 200, path
    # nothing is published (no witnesses here): the member is let through to the 404 of the checkpoint
    assert readers.signed("alpha/witness", "/checkpoint") == 404


def _gaps_world(r: Readers) -> None:
    """Two gateways with gaps: shuzhi-tech/gw-1 lost 2..3 (it had sent 1), other-firm/gw-2 lost 1..4."""
    for gateway, org, seq, event_id in (
        ("shuzhi-tech/gw-1", "shuzhi-tech", 4, "6b2e1d0f-8f52-4a7b-9d55-0b7c1d2e3f42"),
        ("other-firm/gw-2", "other-firm", 5, "7c3f2e1a-8f52-4a7b-9d55-0b7c1d2e3f43"),
    ):
        one = event(event_id=event_id, provider_org=org, gateway_id=gateway, gateway_seq=seq, time_ms=int(NOW * 1000))
        body, headers = batch_request(gateway, [one], r.keys[org])
        r.service.sequencer.submit(gateway, body, base64.b64decode(headers["Consortium-Signature"]))


def _gaps_of(r: Readers, reader: str) -> dict[str, Any]:
    if reader.startswith("person:"):
        answer = r.client.get("/v1/gaps", headers={"Authorization": f"Bearer {reader}"})
    else:
        org, _, name = reader.partition("/")
        key = r.witness_key if name == "witness" else r.keys[org]
        answer = r.client.get("/v1/gaps", headers=sign_read(reader, key, "GET", "/v1/gaps", NOW))
    assert answer.status_code == 200, (reader, answer.text)
    body: dict[str, Any] = answer.json()
    return {"gaps": [(g["gateway"], g["first"], g["last"]) for g in body["gaps"]], "last_seq": body["last_seq"]}


ALL_GAPS = {
    "gaps": [("other-firm/gw-2", 1, 4), ("shuzhi-tech/gw-1", 2, 3)],
    "last_seq": {"other-firm/gw-2": 5, "shuzhi-tech/gw-1": 4},
}
SHUZHI_GAPS = {"gaps": [("shuzhi-tech/gw-1", 2, 3)], "last_seq": {"shuzhi-tech/gw-1": 4}}
OTHER_FIRM_GAPS = {"gaps": [("other-firm/gw-2", 1, 4)], "last_seq": {"other-firm/gw-2": 5}}
NO_GAPS: dict[str, Any] = {"gaps": [], "last_seq": {}}


@pytest.mark.parametrize(
    ("reader", "expected"),
    [
        ("csrc/audit", ALL_GAPS),  # the regulator's services
        ("person:csrc:regulator", ALL_GAPS),  # the regulator's people
        ("op/explorer", ALL_GAPS),  # the trusted explorer, which filters per person itself
        ("shuzhi-tech/gw-1", SHUZHI_GAPS),  # a gateway's own org: its own gateways
        ("shuzhi-tech/sdk", SHUZHI_GAPS),
        ("person:shuzhi-tech", SHUZHI_GAPS),
        ("other-firm/gw", OTHER_FIRM_GAPS),
        ("person:other-firm", OTHER_FIRM_GAPS),
        ("jinghua-sec/gw", NO_GAPS),  # the caller of shuzhi-tech's calls: not its gateway's business
        ("person:jinghua-sec", NO_GAPS),
        ("op/gw-1", NO_GAPS),  # the operator's other services are a member like the others
        ("person:op", NO_GAPS),  # and so are its people: running the notary makes them no supervisor
        ("alpha/witness", NO_GAPS),  # a witness cosigns checkpoints; it runs no gateway here
    ],
)
def test_gaps_are_shown_to_the_gateways_org_the_regulator_and_the_explorer(
    readers: Readers, reader: str, expected: dict[str, Any]
) -> None:
    _gaps_world(readers)
    assert _gaps_of(readers, reader) == expected


def test_the_operations_counts_name_no_gateway(readers: Readers) -> None:
    """``/healthz`` and ``/metrics`` carry the consortium-wide number of gaps, like the tree size: no gateway,
    no org, no sequence number, for the monitor as for every member."""
    _gaps_world(readers)
    monitor = {"Authorization": f"Bearer {MONITOR_TOKEN}"}
    assert readers.client.get("/healthz", headers=monitor).json()["gaps"] == 2
    metrics = readers.client.get("/metrics", headers=monitor).text
    assert "notary_gaps 2\n" in metrics
    assert "gw-1" not in metrics and "gw-2" not in metrics and "other-firm" not in metrics


def test_open_reads_show_every_gateway(tmp_path: Path) -> None:
    """Without ``access`` (``notary serve`` without ``--authenticate-reads``) the log is open, gaps too."""
    r = Readers(tmp_path)
    try:
        _gaps_world(r)
        client = TestClient(create_app(r.service))
        body = client.get("/v1/gaps").json()
        assert {g["gateway"] for g in body["gaps"]} == {"other-firm/gw-2", "shuzhi-tech/gw-1"}
    finally:
        r.service.stop()


def test_outsiders_get_401_with_a_clear_error(readers: Readers) -> None:
    for path in (*EVENT_READS, *MEMBER_READS, "/checkpoint", "/tile/entries/000.p/1", "/v1/gaps", "/v1/alarms"):
        response = readers.client.get(path)
        assert response.status_code == 401, path
        assert "members and witnesses only" in response.json()["error"]


def test_the_metrics_name_no_firm(readers: Readers) -> None:
    metrics = readers.client.get("/metrics", headers={"Authorization": f"Bearer {MONITOR_TOKEN}"})
    assert metrics.status_code == 200
    assert "jinghua-sec" not in metrics.text and "shuzhi-tech" not in metrics.text


def test_forged_stale_and_misdirected_signatures_are_refused(readers: Readers) -> None:
    path = MEMBER_READS[0]
    outsider = Ed25519PrivateKey.generate()
    assert readers.signed("other-firm/gw", path, key=outsider) == 401  # forged: not the org's key
    assert readers.signed("alpha/witness", path, key=readers.keys["op"]) == 401  # a gateway key is no witness key
    assert readers.signed("nobody/gw", path, key=outsider) == 401  # an org the consortium does not know
    assert readers.signed("other-firm/gw", path, at=NOW - MAX_SKEW_S - 1) == 401  # expired
    assert readers.signed("other-firm/gw", path, at=NOW + MAX_SKEW_S + 1) == 401  # from the future
    assert readers.signed("other-firm/gw", path, at=NOW - MAX_SKEW_S) == 200  # the edge of the window
    # a signature is for one method, path and query: replayed on another read it does not verify
    headers = sign_read("other-firm/gw", readers.keys["other-firm"], "GET", "/v1/checkpoints", NOW)
    response = readers.client.get("/v1/anchors", headers=headers)
    assert response.status_code == 401
    assert "does not verify" in response.json()["error"]
    headers = sign_read("csrc/audit", readers.keys["csrc"], "GET", "/v1/checkpoints?limit=1", NOW)
    assert readers.client.get("/v1/checkpoints?limit=2", headers=headers).status_code == 401


def test_signed_reads_sign_each_request_of_an_httpx_client(readers: Readers) -> None:
    auth = SignedReads("op/explorer", readers.keys["op"], clock=lambda: NOW)
    readers.client.auth = auth
    assert readers.client.get("/tile/entries/000.p/1").status_code == 200
    assert readers.client.get("/v1/proofs/consistency", params={"from": 0, "to": 1}).status_code == 200


def test_without_access_the_log_stays_open(tmp_path: Path) -> None:
    r = Readers(tmp_path)
    try:
        client = TestClient(create_app(r.service))
        assert client.get(f"/v1/entries/{EVENT}").status_code == 200
        assert client.get("/tile/entries/000.p/1").status_code == 200
    finally:
        r.service.stop()


def test_healthz_without_credentials_answers_liveness_only(readers: Readers) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-monitor-token"}, {"Consortium-Reader": "nobody"}):
        answer = readers.client.get("/healthz", headers=headers)
        assert (answer.status_code, answer.json()) == (200, {"ok": True})


def test_the_figures_go_to_readers_and_the_monitor_token(readers: Readers) -> None:
    path = "/healthz"
    member = readers.client.get(path, headers=sign_read("other-firm/gw", readers.keys["other-firm"], "GET", path, NOW))
    monitor = readers.client.get(path, headers={"Authorization": f"Bearer {MONITOR_TOKEN}"})
    for answer in (member, monitor):
        assert answer.status_code == 200
        assert answer.json()["ok"] is True and answer.json()["size"] == 1
    assert readers.bearer("person:other-firm", path) == 200
    assert readers.client.get(path, headers={"Authorization": "Bearer person:other-firm"}).json()["size"] == 1


def test_metrics_are_refused_without_credentials(readers: Readers) -> None:
    refused = readers.client.get("/metrics")
    assert refused.status_code == 401
    assert "members and witnesses" in refused.json()["error"]
    assert readers.bearer("not-the-monitor-token", "/metrics") == 401
    assert readers.bearer(MONITOR_TOKEN, "/metrics") == 200
    assert readers.signed("alpha/witness", "/metrics") == 200
    assert (
        "notary_tree_size 1"
        in readers.client.get("/metrics", headers={"Authorization": f"Bearer {MONITOR_TOKEN}"}).text
    )


def test_the_monitor_token_opens_nothing_but_the_figures(readers: Readers) -> None:
    for path in (*MEMBER_READS, *EVENT_READS, "/v1/gaps"):
        assert readers.bearer(MONITOR_TOKEN, path) == 401, path


def test_an_open_notary_shows_its_figures_to_anyone(tmp_path: Path) -> None:
    r = Readers(tmp_path)
    try:
        client = TestClient(create_app(r.service))
        assert client.get("/healthz").json()["size"] == 1
        assert client.get("/metrics").status_code == 200
    finally:
        r.service.stop()


def test_gateway_keys_followed_from_a_source_change_at_once(readers: Readers) -> None:
    """With a source of keys (the chain's, in `notary serve`), a read verifies with any key it names now."""
    new = Ed25519PrivateKey.generate()
    keys: dict[str, list[bytes]] = {"jinghua-sec": [raw(readers.keys["jinghua-sec"])]}
    readers.access.follow_gateway_keys(lambda org: keys.get(org, []))
    path = EVENT_READS[0]
    assert readers.signed("jinghua-sec/gw", path) == 200
    assert readers.signed("jinghua-sec/gw", path, key=new) == 401
    keys["jinghua-sec"] = [b"\x00" * 3, raw(readers.keys["jinghua-sec"]), raw(new)]  # an overlap; a bad key
    assert readers.signed("jinghua-sec/gw", path, key=new) == 200
    assert readers.signed("jinghua-sec/gw", path) == 200
    keys["jinghua-sec"] = [raw(new)]
    assert readers.signed("jinghua-sec/gw", path) == 401
    assert readers.signed("shuzhi-tech/gw-1", path) == 401  # no key on the source, whatever consortium.json says
    assert readers.signed("alpha/witness", f"/v1/entries/{EVENT}") == 404  # witnesses keep their fixed keys


def test_signed_reads_fall_back_to_the_previous_key_until_the_notary_takes_the_new_one(readers: Readers) -> None:
    """A reader whose key file gave a rotated key before the notary's view of the chain holds it valid: each read
    goes under the new key, refused (401), and again at once under the previous key; once the notary took one
    read under the new key, the previous one is not used again."""
    old, new = readers.keys["jinghua-sec"], Ed25519PrivateKey.generate()
    keys: dict[str, list[bytes]] = {"jinghua-sec": [raw(old)]}
    readers.access.follow_gateway_keys(lambda org: keys.get(org, []))
    offered: list[Ed25519PrivateKey | None] = [None]
    auth = SignedReads("jinghua-sec/explorer", old, clock=lambda: NOW, next_key=lambda: offered[0])
    sent: list[str] = []
    readers.client.event_hooks["request"] = [lambda request: sent.append(request.headers["Consortium-Read-Signature"])]
    path = EVENT_READS[0]

    assert readers.client.get(path, auth=auth).status_code == 200 and len(sent) == 1
    offered[0] = new  # the key file's new key, valid on the reader's chain, not yet on the notary's
    assert readers.client.get(path, auth=auth).status_code == 200  # refused under the new key, then the old
    assert len(sent) == 3 and auth.key is new
    keys["jinghua-sec"] = [raw(old), raw(new)]  # the notary's view reaches the overlap
    assert readers.client.get(path, auth=auth).status_code == 200 and len(sent) == 4
    keys["jinghua-sec"] = [raw(old)]  # were the notary to refuse the new key again: no going back to the old one
    assert readers.client.get(path, auth=auth).status_code == 401 and len(sent) == 5


# -- listing a firm's events -------------------------------------------------------------------------------------


def _listed(r: Readers, path: str, reader: str | None = None, token: str | None = None) -> tuple[int, list[str]]:
    """Status and event ids of ``GET path`` signed by ``reader`` or with ``token``."""
    if reader is not None:
        org, _, name = reader.partition("/")
        key = r.witness_key if name == "witness" else r.keys[org]
        response = r.client.get(path, headers=sign_read(reader, key, "GET", path, NOW))
    else:
        response = r.client.get(path, headers={} if token is None else {"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        return response.status_code, []
    return 200, [e["event_id"] for e in response.json()["events"]]


def _more_events(r: Readers) -> None:
    """Three more events, ``time_ms`` one second apart after the first event's: e-2 other-firm → shuzhi-tech, e-3
    jinghua-sec → other-firm (recorded by other-firm's gateway), e-4 a call of the regulator csrc."""
    base = int(NOW * 1000)
    for gateway, made in (
        ("shuzhi-tech/gw-1", [event(event_id="e-2", caller_org="other-firm", gateway_seq=2, time_ms=base + 1000)]),
        (
            "other-firm/gw-2",
            [
                event(
                    event_id="e-3",
                    provider_org="other-firm",
                    gateway_id="other-firm/gw-2",
                    gateway_seq=1,
                    time_ms=base + 2000,
                )
            ],
        ),
        ("shuzhi-tech/gw-1", [event(event_id="e-4", caller_org="csrc", gateway_seq=3, time_ms=base + 3000)]),
    ):
        body, headers = batch_request(gateway, made, r.keys[gateway.partition("/")[0]])
        signature = base64.b64decode(headers["Consortium-Signature"])
        r.service.sequencer.submit(headers["Consortium-Gateway"], body, signature)


def test_each_firm_lists_its_own_events_and_the_regulator_every_firms(readers: Readers) -> None:
    _more_events(readers)
    path = "/v1/events"
    assert _listed(readers, path, "jinghua-sec/gw") == (200, [EVENT, "e-3"])
    assert _listed(readers, path, "shuzhi-tech/gw-1") == (200, [EVENT, "e-2", "e-4"])
    assert _listed(readers, path, "other-firm/gw") == (200, ["e-2", "e-3"])
    assert _listed(readers, path, "op/gw-1") == (200, [])  # the operator is no party to any
    assert _listed(readers, path, "alpha/witness") == (200, [])
    assert _listed(readers, path, token="person:other-firm") == (200, ["e-2", "e-3"])
    assert _listed(readers, path, token="person:jinghua-sec") == (200, [EVENT, "e-3"])
    every = [EVENT, "e-2", "e-3", "e-4"]
    assert _listed(readers, path, "csrc/audit") == (200, every)
    assert _listed(readers, path, token="person:csrc:regulator") == (200, every)
    assert _listed(readers, path, "op/explorer") == (200, every)
    assert _listed(readers, f"{path}?org=other-firm", "csrc/audit") == (200, ["e-2", "e-3"])
    assert _listed(readers, f"{path}?org=other-firm", token="person:csrc:regulator") == (200, ["e-2", "e-3"])
    assert _listed(readers, f"{path}?org=jinghua-sec", "jinghua-sec/gw") == (200, [EVENT, "e-3"])
    # own=true: the reader's own firm's, the regulator's too (verify log --mine)
    assert _listed(readers, f"{path}?own=true", "csrc/audit") == (200, ["e-4"])
    assert _listed(readers, f"{path}?own=true", token="person:csrc:regulator") == (200, ["e-4"])
    assert _listed(readers, f"{path}?own=true", "other-firm/gw") == (200, ["e-2", "e-3"])
    assert _listed(readers, f"{path}?own=true&org=other-firm", "csrc/audit")[0] == 400


def test_a_firm_cannot_list_another_firms_events(readers: Readers) -> None:
    path = "/v1/events?org=jinghua-sec"
    for reader in ("other-firm/gw", "op/gw-1", "alpha/witness"):
        assert _listed(readers, path, reader) == (403, []), reader
    assert _listed(readers, path, token="person:other-firm") == (403, [])
    response = readers.client.get(path, headers={"Authorization": "Bearer person:other-firm"})
    assert (
        response.json()["error"] == "person@other-firm lists the events of its own org (other-firm), not of jinghua-sec"
    )
    assert _listed(readers, "/v1/events")[0] == 401  # an outsider
    assert _listed(readers, "/v1/events", token="not-a-token")[0] == 401


def test_events_page_by_index_and_filter_by_time(readers: Readers) -> None:
    _more_events(readers)
    first = readers.client.get("/v1/events?limit=1", headers={"Authorization": "Bearer person:csrc:regulator"})
    row = {
        "index": 0,
        "event_id": EVENT,
        "time_ms": int(NOW * 1000),
        "caller_org": "jinghua-sec",
        "provider_org": "shuzhi-tech",
        "decision": "allow",
        "status": 200,
    }
    assert first.json() == {"events": [row], "next": 1}
    pages, start = [], 0
    while start is not None:
        path = f"/v1/events?from={start}&limit=1"
        body = readers.client.get(
            path, headers=sign_read("other-firm/gw", readers.keys["other-firm"], "GET", path, NOW)
        )
        pages.append([e["event_id"] for e in body.json()["events"]])
        start = body.json()["next"]
    assert pages == [["e-2"], ["e-3"], []]  # the last page scanned the log's end and found none
    since = f"/v1/events?since_ms={int(NOW * 1000) + 2000}"
    assert _listed(readers, since, token="person:csrc:regulator") == (200, ["e-3", "e-4"])
    assert _listed(readers, "/v1/events?from=99", "csrc/audit") == (200, [])


def test_the_listing_scans_a_bounded_window_per_request(readers: Readers, monkeypatch: pytest.MonkeyPatch) -> None:
    from notary.api import reads

    _more_events(readers)
    monkeypatch.setattr(reads, "MAX_SCAN", 2)
    body = readers.client.get("/v1/events", headers={"Authorization": "Bearer person:other-firm"}).json()
    assert ([e["event_id"] for e in body["events"]], body["next"]) == (["e-2"], 2)
    body = readers.client.get("/v1/events?from=2", headers={"Authorization": "Bearer person:other-firm"}).json()
    assert ([e["event_id"] for e in body["events"]], body["next"]) == (["e-3"], None)


# -- members' client certificates (mutual TLS) -------------------------------------------------------------------


def over_tls(r: Readers, client_cert: str | None) -> TestClient:
    """The app as a TLS server hands it requests: the connection's client certificate in the scope's TLS
    extension (what ``notary.api.tlspeer`` adds; the handshake itself is in the integration tests)."""
    app = create_app(r.service, r.access)

    async def with_tls(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            chain = [] if client_cert is None else [client_cert]
            scope = {**scope, "extensions": {**scope.get("extensions", {}), "tls": {"client_cert_chain": chain}}}
        await app(scope, receive, send)

    return TestClient(with_tls)


def test_a_members_client_certificate_reads_as_its_firm(readers: Readers) -> None:
    party = over_tls(readers, "cert:amy@jinghua-sec")
    other = over_tls(readers, "cert:bob@other-firm")
    regulator = over_tls(readers, "cert:ivy@csrc:regulator")
    for path in EVENT_READS:
        assert party.get(path).status_code == 200, path
        assert other.get(path).status_code == 404, path  # the 404 of a missing event, as for a token
        assert regulator.get(path).status_code == 200, path
    for path in MEMBER_READS:
        assert other.get(path).status_code == 200, path
    assert set(other.get("/healthz").json()) > {"ok"}  # the figures, as to any authenticated reader
    assert other.get("/metrics").status_code == 200
    assert over_tls(readers, "self-signed").get("/metrics").status_code == 401
    assert party.get("/tile/entries/000.p/1").status_code == 403
    assert regulator.get("/tile/entries/000.p/1").status_code == 200
    assert [e["event_id"] for e in party.get("/v1/events").json()["events"]] == [EVENT]
    assert other.get("/v1/events").json()["events"] == []
    refused = other.get("/v1/events?org=jinghua-sec")
    assert refused.status_code == 403
    assert refused.json()["error"] == "bob@other-firm lists the events of its own org (other-firm), not of jinghua-sec"


def test_a_certificate_the_check_refuses_is_401_and_no_certificate_is_no_credential(readers: Readers) -> None:
    refused = over_tls(readers, "self-signed").get(EVENT_READS[0])
    assert refused.status_code == 401
    assert refused.json()["error"] == "client certificate refused: unknown_issuer: not a member's"
    anonymous = over_tls(readers, None).get(EVENT_READS[0])
    assert anonymous.status_code == 401
    assert "or present a member's client certificate" in anonymous.json()["error"]


def test_credentials_in_headers_come_before_the_certificate(readers: Readers) -> None:
    client = over_tls(readers, "cert:bob@other-firm")
    path = EVENT_READS[0]
    assert client.get(path).status_code == 404
    assert client.get(path, headers={"Authorization": "Bearer person:jinghua-sec"}).status_code == 200
    assert client.get(path, headers={"Authorization": "Bearer broken"}).status_code == 401


def test_a_notary_that_takes_no_certificates_says_so(tmp_path: Path) -> None:
    r = Readers(tmp_path)
    try:
        r.access = ReadAccess(
            gateway_keys={}, witness_keys={}, regulators={"csrc"}, trusted=(), people=person, clock=lambda: NOW
        )
        response = over_tls(r, "cert:amy@jinghua-sec").get(EVENT_READS[0])
        assert response.status_code == 401
        assert response.json()["error"] == "this notary accepts no client certificates; send a login token"
    finally:
        r.service.stop()


# -- resolving an alarm: the operator's one write --------------------------------------------------------------


def resolve(readers: Readers, reader: str, alarm_id: int, reason: str | None) -> Any:
    """``POST /v1/alarms/ID/resolve`` signed by ``reader`` (its path and query, the reason included)."""
    path = f"/v1/alarms/{alarm_id}/resolve" + ("" if reason is None else "?reason=" + quote(reason))
    org, _, name = reader.partition("/")
    key = readers.witness_key if name == "witness" else readers.keys[org]
    return readers.client.post(path, headers=sign_read(reader, key, "POST", path, NOW))


def alarms(readers: Readers, state: str = "") -> list[dict[str, Any]]:
    path = "/v1/alarms" + (f"?state={state}" if state else "")
    answer = readers.client.get(path, headers=sign_read("csrc/audit", readers.keys["csrc"], "GET", path, NOW))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["alarms"]
    return found


def test_the_operator_resolves_an_alarm_and_a_new_finding_opens_another(readers: Readers) -> None:
    store = readers.service.store
    store.add_alarm(1, "split-view", 9, "witness w1 refused checkpoint 9", subject="witness w1")
    store.add_alarm(2, "split-view", 10, "witness w1 refused checkpoint 10", subject="witness w1")
    answer = resolve(readers, "op/ops", 1, "  w1 restored from its backup; cosigns again  ")
    assert answer.status_code == 200, answer.text
    resolved = answer.json()
    assert (resolved["count"], resolved["time_ms"], resolved["last_ms"]) == (2, 1, 2)  # its history kept
    assert (resolved["resolved_ms"], resolved["resolved_by"], resolved["reason"]) == (
        int(NOW * 1000), "op/ops", "w1 restored from its backup; cosigns again"
    )  # fmt: skip
    assert alarms(readers, "open") == []
    assert alarms(readers) == alarms(readers, "all") == [resolved]  # the default is every alarm, as before
    health = readers.client.get("/healthz", headers={"Authorization": f"Bearer {MONITOR_TOKEN}"}).json()
    assert health["alarms"] == 0  # what up's evaluator and Prometheus watch: the open ones
    store.add_alarm(3, "split-view", 11, "witness w1 refused checkpoint 11", subject="witness w1")
    (again,) = alarms(readers, "open")
    assert (again["id"], again["count"], again["time_ms"], again["resolved_ms"]) == (2, 1, 3, None)
    assert [a["id"] for a in alarms(readers)] == [2, 1]
    by_person = readers.client.post(
        "/v1/alarms/2/resolve?reason=checked", headers={"Authorization": "Bearer person:op"}
    ).json()
    assert by_person["resolved_by"] == "person@op"


def test_resolving_is_refused_with_nothing_changed(readers: Readers, tmp_path: Path) -> None:
    store = readers.service.store
    store.add_alarm(1, "anchor-mismatch", 9, "the chain holds root 66 for size 9", subject="anchor 9")
    store.add_alarm(2, "object-mismatch", 9, "other bytes", subject="tile/0/000.p/9")
    assert resolve(readers, "op/ops", 2, "bucket restored").status_code == 200
    before = alarms(readers)
    refusals = {
        "unknown id": (resolve(readers, "op/ops", 99, "checked"), 404, "no alarm 99"),
        "resolved already": (resolve(readers, "op/ops", 2, "again"), 409, "resolved already"),
        "another firm": (resolve(readers, "other-firm/gw", 1, "checked"), 403, "may not resolve"),
        "the regulator": (resolve(readers, "csrc/audit", 1, "checked"), 403, "may not resolve"),
        "the operator's witness key": (resolve(readers, "op/witness", 1, "checked"), 403, "may not resolve"),
        "an empty reason": (resolve(readers, "op/ops", 1, ""), 422, ""),
        "a blank reason": (resolve(readers, "op/ops", 1, "   "), 422, ""),
        "no reason": (resolve(readers, "op/ops", 1, None), 422, ""),
        "a control character": (resolve(readers, "op/ops", 1, "ok\x1b[2J"), 422, ""),
        "an id out of range": (resolve(readers, "op/ops", 2**63, "checked"), 422, ""),
    }
    for what, (answer, status, error) in refusals.items():
        assert answer.status_code == status, (what, answer.text)
        assert error in answer.json()["error"], (what, answer.text)
    # a signature covers the reason: the request signed for one reason does not carry another
    signed = sign_read("op/ops", readers.keys["op"], "POST", "/v1/alarms/1/resolve?reason=a", NOW)
    assert readers.client.post("/v1/alarms/1/resolve?reason=b", headers=signed).status_code == 401
    assert alarms(readers) == before
    assert before[1]["resolved_ms"] is None and before[0]["reason"] == "bucket restored"


def test_a_notary_without_authenticated_reads_resolves_nothing(tmp_path: Path) -> None:
    r = Readers(tmp_path)
    try:
        r.service.store.add_alarm(1, "split-view", 9, "witness w1 refused checkpoint 9", subject="witness w1")
        open_app = TestClient(create_app(r.service))
        answer = open_app.post("/v1/alarms/1/resolve?reason=checked")
        assert answer.status_code == 403 and "authenticates no reads" in answer.json()["error"]
        assert r.service.store.alarms()[0]["resolved_ms"] is None
    finally:
        r.service.stop()


# -- listing alarms a page at a time ------------------------------------------------------------------------------


def alarm_page(readers: Readers, query: str) -> Any:
    """``GET /v1/alarms?QUERY`` signed by the regulator's reader."""
    path = "/v1/alarms" + (f"?{query}" if query else "")
    return readers.client.get(path, headers=sign_read("csrc/audit", readers.keys["csrc"], "GET", path, NOW))


def walk(readers: Readers, state: str, limit: int) -> list[list[int]]:
    """The ids of each page of a walk from the first page, following ``next`` to the last."""
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        query = f"state={state}&limit={limit}" + ("" if cursor is None else f"&cursor={quote(cursor)}")
        answer = alarm_page(readers, query)
        assert answer.status_code == 200, answer.text
        pages.append([a["id"] for a in answer.json()["alarms"]])
        cursor = answer.json()["next"]
        if cursor is None:
            return pages


def test_alarms_page_by_a_cursor_the_last_found_first(readers: Readers) -> None:
    """Seven alarms, two found at the same time (the later opened first), one found again (it moves up), two
    resolved: pages of three follow ``next`` through every one once, in the order of one long page; ``open`` pages
    through the open ones only. A page that ends exactly at the last alarm still has a ``next``, which gives an
    empty last page. The default page is the 100 answered before paging."""
    store = readers.service.store
    for n, at in enumerate((10, 20, 30, 30, 40, 50, 60), start=1):
        store.add_alarm(at, "object-mismatch", n, f"other bytes under object {n}", subject=f"object {n}")
    store.add_alarm(70, "object-mismatch", 9, "found again", subject="object 2")
    for alarm_id in (5, 6):
        assert resolve(readers, "op/ops", alarm_id, "bucket restored").status_code == 200
    every = [2, 7, 6, 5, 4, 3, 1]  # object 2 found again last; 4 and 3 found at once, 4 opened later
    assert [a["id"] for a in alarm_page(readers, "limit=1000").json()["alarms"]] == every
    assert walk(readers, "all", 3) == [every[:3], every[3:6], every[6:]]
    assert walk(readers, "open", 2) == [[2, 7], [4, 3], [1]]
    assert walk(readers, "open", 6) == [[2, 7, 4, 3, 1]]
    assert walk(readers, "all", 7) == [every, []]
    assert alarm_page(readers, "").json() == alarm_page(readers, "state=all&limit=100").json()
    assert alarm_page(readers, "").json()["next"] is None


def test_a_bad_limit_or_cursor_is_refused_with_the_reason(readers: Readers) -> None:
    """A cursor this notary did not issue, or one of the other ``state``, is a 400 saying so; a limit out of
    1..1000 the 422 of every other list's ``limit`` (/v1/checkpoints, /v1/anchors, /v1/events), naming it."""
    for n in range(1, 4):
        readers.service.store.add_alarm(n, "split-view", n, f"witness w{n} refused", subject=f"witness w{n}")
    cursor = alarm_page(readers, "limit=1").json()["next"]
    assert alarm_page(readers, f"limit=1&cursor={cursor}").status_code == 200
    forged = base64.urlsafe_b64encode(b"v1:3.-1:all").decode().rstrip("=")
    not_ours = {
        "not base64": "%25%25%25",
        "not our form": base64.urlsafe_b64encode(b"hello").decode(),
        "another version": base64.urlsafe_b64encode(b"v2:3.3:all").decode().rstrip("="),
        "an id out of range": forged,
        "not canonical": base64.urlsafe_b64encode(b"v1:03.3:all").decode().rstrip("="),
        "too long": "A" * 200,
        "empty": "",
    }
    for what, bad in not_ours.items():
        answer = alarm_page(readers, f"cursor={bad}")
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["error"].startswith("cursor: not one this notary issued"), (what, answer.text)
    other_state = alarm_page(readers, f"state=open&cursor={cursor}")
    assert other_state.status_code == 400
    assert other_state.json()["error"] == (
        "cursor: it continues a listing of state=all, not state=open; start again without it"
    )
    for limit in ("0", "1001", "-1", "ten"):
        answer = alarm_page(readers, f"limit={limit}")
        assert answer.status_code == 422, (limit, answer.text)
        assert answer.json()["error"].startswith("query.limit: "), (limit, answer.text)


# -- a witness's key as a reader ------------------------------------------------------------------------------


def test_a_witness_key_reads_as_its_org_and_never_resolves(tmp_path: Path) -> None:
    """A witness key (``<org>/witness``) is a reader of its org, as that org's services are, never more: a
    witness of a firm that is no party reads the hashes, checkpoints, anchors, alarms and figures, and gets the
    404 of a missing event, 403 for entry bundles and another org's listing, no gateway's gaps; the witness of a
    party firm reads that firm's event and its own gateways' gaps; the witness of the regulator's org reads as the
    regulator (every event, entry bundles); no witness resolves an alarm, the operator's included. The row "a
    witness's key" of docs/confidentiality.md, "Every read path, by reader"."""
    r = Readers(tmp_path)
    try:
        witnesses = ("alpha", "jinghua-sec", "shuzhi-tech", "csrc", "op")
        r.access = ReadAccess(
            gateway_keys={org: raw(key) for org, key in r.keys.items()},
            witness_keys={org: raw(r.witness_key) for org in witnesses},
            regulators={"csrc"},
            trusted={"op/explorer"},
            people=person,
            clock=lambda: NOW,
            monitor_token=MONITOR_TOKEN,
            operators=("op",),
        )
        r.client = TestClient(create_app(r.service, r.access))
        _gaps_world(r)
        r.service.store.add_alarm(1, "split-view", 9, "witness w1 refused checkpoint 9", subject="witness w1")
        shared = (*MEMBER_READS, "/v1/alarms", "/v1/alarms?state=open", "/healthz", "/metrics")
        for org in witnesses:
            reader = f"{org}/witness"
            for path in shared:
                assert r.signed(reader, path) == 200, (reader, path)
            assert resolve(r, reader, 1, "checked").status_code == 403, reader
        figures = r.client.get("/healthz", headers=sign_read("alpha/witness", r.witness_key, "GET", "/healthz", NOW))
        assert figures.json()["size"] == 3 and figures.json()["alarms"] == 1  # the figures, not liveness only
        for path in EVENT_READS:
            assert r.signed("alpha/witness", path) == 404, path  # no party: as if there were no such event
            assert r.signed("other-firm/witness", path) == 401, path  # no witness key of that org
            assert r.signed("jinghua-sec/witness", path) == 200, path  # the caller's org
            assert r.signed("csrc/witness", path) == 200, path  # the regulator's org
        assert r.signed("alpha/witness", "/tile/entries/000.p/1") == 403
        assert r.signed("jinghua-sec/witness", "/tile/entries/000.p/1") == 403
        assert r.signed("csrc/witness", "/tile/entries/000.p/1") == 200
        assert _listed(r, "/v1/events", "alpha/witness") == (200, [])
        own = _listed(r, "/v1/events", "jinghua-sec/gw")  # the caller of the three events, as its gateway reads
        assert _listed(r, "/v1/events", "jinghua-sec/witness") == own and EVENT in own[1]
        assert _listed(r, "/v1/events", "csrc/witness") == _listed(r, "/v1/events", "csrc/audit")
        assert _listed(r, "/v1/events?org=jinghua-sec", "alpha/witness")[0] == 403
        assert _gaps_of(r, "alpha/witness") == NO_GAPS
        assert _gaps_of(r, "shuzhi-tech/witness") == SHUZHI_GAPS
        assert _gaps_of(r, "csrc/witness") == ALL_GAPS
        assert r.service.store.alarms()[0]["resolved_ms"] is None
    finally:
        r.service.stop()
