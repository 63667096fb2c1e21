"""``GET /api/v1/validators/equivocations`` in process (FastAPI's test client, no socket): the records come from a
real validator's consensus loop that saw conflicting messages, answered by its JSON-RPC server's ``handle`` (no
socket either), and the explorer checks each one itself before it lists it (``explorer.equivocations``): against
the validator set its height's parent names in the chain index when that block is indexed. A record the node
serves that does not prove an equivocation is listed apart with the reason; a node that stops answering is said
to, and the last good answer stays; everyone logged in sees it, no one else.

The explorer asks every node it knows (its own, then the others ``nodes.json`` lists) side by side: the same
conflict reported by several nodes is one record naming them all, a record only one node saw is listed too, and a
node that is down, answers garbage, hangs past the timeout or serves a forged record is said to without hiding
what the others answered. Each node's answer comes from a real consensus loop of its own (no socket). A node the
chain's directory lists and no source names yet (a firm admitted later) is asked at its peer route and merged the
same way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from eth.db.atomic import AtomicDB
from eth_keys.datatypes import PrivateKey
from fastapi.testclient import TestClient

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.errors import BackendError
from chain.ids import MemberStatus, OrgId
from chain.node.consensus import Consensus
from chain.node.node import Genesis, Node
from chain.node.peers import EQUIVOCATIONS_PATH, MAX_EVIDENCE_BYTES
from chain.node.rpc import RpcServer
from chain.qbft import messages as m
from chain.qbft.evidence import Equivocation
from chain.qbft.rules import RoundTimer
from chain.trustview import TrustSnapshot
from explorer.api import Explorer, Limits, create_app
from explorer.api.schemas import Equivocations
from explorer.chainindex import ChainIndex
from explorer.equivocations import TIMEOUT_S, EquivocationBook
from network.equivocationsources import MAX_PEER_EVIDENCE_BYTES, PEER_EVIDENCE_PATH, NodeSource, equivocation_sources
from network.nodes import NodeEntry, write_nodes
from tests.support.validator_blocks import row
from tests.unit.chain.qbft.chainlike import make_block
from tests.unit.explorer.test_validators_api import TOKEN, StandInLogins

KEYS = [PrivateKey(bytes([i]) * 32) for i in (1, 2, 3, 4)]
STRANGER = PrivateKey(b"\x09" * 32)
ADDRESSES = [k.public_key.to_checksum_address() for k in KEYS]
ORGS = dict(zip(ADDRESSES, ("alpha", "beta", "gamma", "delta"), strict=True))
GENESIS = Genesis(20261, tuple(ADDRESSES), ADDRESSES[0], 1_700_000_000)
CULPRIT, OTHER = KEYS[2], KEYS[3]
REGISTRY = "ConsortiumRegistry"


def node_that_saw_equivocations() -> Consensus:
    """Validator KEYS[0] at height 1: KEYS[2] signed two PREPAREs at height 1, KEYS[3] two ROUND-CHANGEs for round
    1 at height 3 (a later height, whose parent the explorer has not indexed), one with a prepared block."""
    validators = tuple(sorted(k.public_key.to_canonical_address() for k in KEYS))
    block = make_block(b"\x05" * 32, 3, OTHER.public_key.to_canonical_address(), validators, payload=b"three")
    prepares = tuple(m.prepare(k, 3, 0, block.hash) for k in KEYS[:3])
    return node_that_saw(KEYS[0], [
        m.prepare(CULPRIT, 1, 0, b"\x01" * 32), m.prepare(CULPRIT, 1, 0, b"\x02" * 32),
        m.round_change(OTHER, 3, 1), m.round_change(OTHER, 3, 1, (0, block, prepares)),
    ])  # fmt: skip


def node_that_saw(key: PrivateKey, messages: Sequence[Any]) -> Consensus:
    """Validator ``key``'s loop at height 1 once it has received ``messages``, in that order."""
    consensus = Consensus(Node(AtomicDB(), GENESIS, clock=lambda: 1_700_000_100), key, lambda _c, _b: None,
                          timer=RoundTimer(base=60.0, cap=60.0), clock=lambda: 100.0)  # fmt: skip
    for message in messages:
        consensus.deliver(*m.encode(message))
        consensus.step(wait=0)
    return consensus


def answer_of(consensus: Consensus) -> list[dict[str, Any]]:
    """What its JSON-RPC answers to ``qbft_getEquivocations``."""
    server = RpcServer(consensus.node, equivocations=lambda: tuple(consensus.equivocations.records))
    raw = server.handle(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "qbft_getEquivocations"}).encode())
    assert raw is not None
    result: list[dict[str, Any]] = json.loads(raw)["result"]
    return result


def indexed(path: Path) -> ChainIndex:
    """Blocks 0 and 1, both naming the four validators; block 1 adds their accounts to the members."""
    index = ChainIndex(path)
    index.add_block({**row(0, ADDRESSES, None), "parent_hash": "0x" + "00" * 32}, [], [])
    txs: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i, (account, org) in enumerate(ORGS.items()):
        tx_hash, args = f"0x{i + 1:064x}", {"org": org, "account": account}
        txs.append({"hash": tx_hash, "index": i, "from": account, "to": None, "contract": REGISTRY,
                    "function": "add_account", "args": args, "status": 1})  # fmt: skip
        events.append({"tx_hash": tx_hash, "log_index": i, "contract": REGISTRY, "event": "AccountAdded",
                       "args": args})  # fmt: skip
    index.add_block({**row(1, ADDRESSES, ADDRESSES[0]), "parent_hash": "0x" + "00" * 32}, txs, events)
    return index


def client_of(index: ChainIndex, book: EquivocationBook | None) -> TestClient:
    stand_in = SimpleNamespace(auth=StandInLogins(), recorder=None, limits=Limits(), chain=index,
                               state=SimpleNamespace(snapshot=None), equivocations=book)  # fmt: skip
    return TestClient(create_app(cast(Explorer, stand_in)), headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ChainIndex]:
    found = indexed(tmp_path / "chain.db")
    yield found
    found.close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_nodes_records_are_checked_and_listed_with_their_validators_named(index: ChainIndex) -> None:
    answer = answer_of(node_that_saw_equivocations())
    with client_of(index, EquivocationBook(lambda: answer)) as client:
        reply = client.get("/api/v1/validators/equivocations")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    Equivocations.model_validate(body)
    assert list(body) == list(Equivocations.model_fields)
    assert body["source"] == {"ok": True, "error": None} and body["refused"] == []
    listed = body["equivocations"]
    assert [(r["index"], r["validator"], r["height"], r["round"], r["type"], r["set_checked"]) for r in listed] == [
        (0, {"address": ADDRESSES[2], "org": "gamma"}, 1, 0, "PREPARE", True),  # block 0 is indexed: its set
        (1, {"address": ADDRESSES[3], "org": "delta"}, 3, 1, "ROUND_CHANGE", False),  # block 2 is not
    ]
    assert [r["record"] for r in listed] == answer  # as the node answered it: for `chain equivocations --file`


def test_a_record_that_proves_nothing_is_listed_apart_with_the_reason(index: ChainIndex) -> None:
    answer = answer_of(node_that_saw_equivocations())
    good = Equivocation.from_json(answer[0])
    stranger = Equivocation(STRANGER.public_key.to_canonical_address(), 1, 0, m.Code.PREPARE,
                            m.encode(m.prepare(STRANGER, 1, 0, b"\x01" * 32))[1],
                            m.encode(m.prepare(STRANGER, 1, 0, b"\x02" * 32))[1])  # fmt: skip
    lying = [
        *answer,
        {**answer[0], "second": answer[0]["first"]},  # the same message twice
        {**answer[0], "validator": ADDRESSES[1]},  # claims another signer
        stranger.to_json(),  # a real conflict, but by no validator of block 0's set
        {"validator": "nonsense"},
        "text",
    ]
    with client_of(index, EquivocationBook(lambda: lying)) as client:
        body = client.get("/api/v1/validators/equivocations").json()
    assert [r["index"] for r in body["equivocations"]] == [0, 1]
    assert Equivocation.from_json(body["equivocations"][0]["record"]) == good
    reasons = {r["index"]: r["reason"] for r in body["refused"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "no conflict" in reasons[2] and "is signed by" in reasons[3]
    assert "not one of the given validators" in reasons[4]
    assert "not an equivocation record" in reasons[5] and "JSON object" in reasons[6]


def test_a_node_that_stops_answering_is_said_to_and_its_last_answer_stays(index: ChainIndex) -> None:
    answer = answer_of(node_that_saw_equivocations())
    clock, asked = Clock(), []

    def fetch() -> object:
        asked.append(clock.now)
        if len(asked) > 1:
            raise ConnectionError("connection refused")
        return answer

    with client_of(index, EquivocationBook(fetch, max_age=10.0, clock=clock)) as client:
        first = client.get("/api/v1/validators/equivocations").json()
        clock.now = 5.0
        assert client.get("/api/v1/validators/equivocations").json() == first and asked == [0.0]  # cached
        clock.now = 10.0
        later = client.get("/api/v1/validators/equivocations").json()
    assert asked == [0.0, 10.0]
    assert later["source"] == {"ok": False, "error": "ConnectionError: connection refused"}
    assert later["equivocations"] == first["equivocations"]


def test_without_a_node_or_a_method_there_is_no_evidence_and_the_reason_is_given(index: ChainIndex) -> None:
    def lacking() -> object:
        raise LookupError("the method qbft_getEquivocations does not exist")

    for book, error in ((None, "no chain node to ask"), (EquivocationBook(lacking), "LookupError: the method")):
        with client_of(index, book) as client:
            body = client.get("/api/v1/validators/equivocations").json()
        assert body["equivocations"] == [] and body["source"]["ok"] is False
        assert body["source"]["error"].startswith(error)


@pytest.mark.parametrize("authorization", [None, "Bearer someone-else"])
def test_everyone_logged_in_sees_it_and_no_one_else(index: ChainIndex, authorization: str | None) -> None:
    asked: list[int] = []

    def fetch() -> object:
        asked.append(1)
        return []

    with client_of(index, EquivocationBook(fetch)) as client:
        refused = client.get("/api/v1/validators/equivocations", headers={"Authorization": authorization or ""})
        assert refused.status_code == 401 and refused.json()["error"] in ("no_credentials", "invalid_token")
        assert asked == []  # the node is not asked for one who may not see
        assert client.get("/api/v1/validators/equivocations").status_code == 200 and asked == [1]


def node_b_answer() -> list[dict[str, Any]]:
    """Validator KEYS[1]'s records: KEYS[2]'s two PREPAREs received the other way round (the same conflict as
    ``node_that_saw_equivocations``'s first record), and KEYS[3]'s two PREPAREs at height 1, which only it saw."""
    return answer_of(node_that_saw(KEYS[1], [
        m.prepare(CULPRIT, 1, 0, b"\x02" * 32), m.prepare(CULPRIT, 1, 0, b"\x01" * 32),
        m.prepare(OTHER, 1, 0, b"\x03" * 32), m.prepare(OTHER, 1, 0, b"\x04" * 32),
    ]))  # fmt: skip


def test_the_records_of_every_node_are_merged_naming_the_nodes_that_reported_each(index: ChainIndex) -> None:
    a, b = answer_of(node_that_saw_equivocations()), node_b_answer()
    assert (b[0]["first"], b[0]["second"]) == (a[0]["second"], a[0]["first"])  # the same conflict, received swapped
    sources = [NodeSource("alpha", lambda: a, own=True), NodeSource("beta", lambda: b), NodeSource("gamma", list)]
    with client_of(index, EquivocationBook(sources=lambda: sources)) as client:
        reply = client.get("/api/v1/validators/equivocations")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    Equivocations.model_validate(body)
    assert list(body) == list(Equivocations.model_fields)
    listed = [(r["validator"]["org"], r["height"], r["round"], r["type"], r["nodes"], r["index"])
              for r in body["equivocations"]]  # fmt: skip
    assert listed == [
        ("gamma", 1, 0, "PREPARE", ["alpha", "beta"], 0),  # one record, both nodes; index: in alpha's answer
        ("delta", 3, 1, "ROUND_CHANGE", ["alpha"], 1),
        ("delta", 1, 0, "PREPARE", ["beta"], 1),  # the equivocation alpha's node never saw both halves of
    ]
    assert [r["record"] for r in body["equivocations"]] == [a[0], a[1], b[1]]
    assert body["refused"] == [] and body["source"] == {"ok": True, "error": None}
    assert body["nodes"] == [
        {"name": "alpha", "own": True, "ok": True, "error": None, "records": 2},
        {"name": "beta", "own": False, "ok": True, "error": None, "records": 2},
        {"name": "gamma", "own": False, "ok": True, "error": None, "records": 0},
    ]


def test_a_node_down_garbage_or_hanging_is_listed_with_its_error_and_hides_nothing(index: ChainIndex) -> None:
    a, b = answer_of(node_that_saw_equivocations()), node_b_answer()
    release = threading.Event()
    clock = Clock()

    def down() -> object:
        raise ConnectionError("connection refused")

    def hangs() -> object:
        release.wait(30)
        return b

    answers: dict[str, object] = {"beta": b}
    sources = [
        NodeSource("alpha", down, own=True),
        NodeSource("beta", lambda: answers["beta"]),
        NodeSource("gamma", lambda: {"jsonrpc": "2.0"}),  # not a list
        NodeSource("delta", hangs),
    ]
    book = EquivocationBook(sources=lambda: sources, max_age=10.0, timeout=0.05, clock=clock)
    try:
        first = book.view(lambda _n: None, lambda _a: None)
    finally:
        release.set()
    assert [(r["type"], r["nodes"]) for r in first["equivocations"]] == [("PREPARE", ["beta"]), ("PREPARE", ["beta"])]
    assert first["source"] == {"ok": False, "error": "ConnectionError: connection refused"}
    errors = {n["name"]: (n["ok"], n["error"], n["records"]) for n in first["nodes"]}
    assert errors == {
        "alpha": (False, "ConnectionError: connection refused", 0),
        "beta": (True, None, 2),
        "gamma": (False, "MalformedError: qbft_getEquivocations answered a dict, not a list", 0),
        "delta": (False, "no answer within 0.05 s", 0),
    }
    # later: alpha answers, beta answers garbage (its last good answer stays, with its error), delta in time
    sources[0] = NodeSource("alpha", lambda: a, own=True)
    answers["beta"] = "garbage"
    clock.now = 10.0
    later = book.view(lambda _n: None, lambda _a: None)
    assert [r["nodes"] for r in later["equivocations"]] == [["alpha", "beta", "delta"], ["alpha"], ["beta", "delta"]]
    assert later["source"] == {"ok": True, "error": None}
    beta = next(n for n in later["nodes"] if n["name"] == "beta")
    assert beta["ok"] is False and "answered a str" in beta["error"] and beta["records"] == 2


def test_a_forged_record_is_refused_naming_its_node_and_the_honest_copy_is_listed(index: ChainIndex) -> None:
    a = answer_of(node_that_saw_equivocations())
    forged = {**a[0], "second": a[0]["first"]}  # the same message twice: proves nothing
    stranger = Equivocation(STRANGER.public_key.to_canonical_address(), 1, 0, m.Code.PREPARE,
                            m.encode(m.prepare(STRANGER, 1, 0, b"\x01" * 32))[1],
                            m.encode(m.prepare(STRANGER, 1, 0, b"\x02" * 32))[1])  # fmt: skip
    sources = [
        NodeSource("alpha", lambda: a, own=True),
        NodeSource("mallory", lambda: [forged, stranger.to_json(), a[1]]),
    ]
    with client_of(index, EquivocationBook(sources=lambda: sources)) as client:
        body = client.get("/api/v1/validators/equivocations").json()
    assert [(r["type"], r["nodes"]) for r in body["equivocations"]] == [
        ("PREPARE", ["alpha"]),
        ("ROUND_CHANGE", ["alpha", "mallory"]),  # a true record from it still counts
    ]
    refused = [(r["node"], r["index"], r["reason"]) for r in body["refused"]]
    assert [(node, i) for node, i, _ in refused] == [("mallory", 0), ("mallory", 1)]
    assert "no conflict" in refused[0][2] and "not one of the given validators" in refused[1][2]


def test_the_nodes_asked_are_the_explorers_own_then_the_others_of_nodes_json(tmp_path: Path) -> None:
    own_only = equivocation_sources(
        tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S
    )  # a single node's directory
    assert [(s.name, s.own) for s in own_only] == [("chain node", True)]
    write_nodes(tmp_path, [
        NodeEntry(OrgId("alpha"), True, "http://127.0.0.1:8545", "https://127.0.0.1:30303"),
        NodeEntry(OrgId("beta"), True, "http://127.0.0.1:8546", "https://127.0.0.1:30304"),
        NodeEntry(OrgId("gamma"), False, "", ""),  # not started yet: nothing to ask
    ])  # fmt: skip
    sources = equivocation_sources(tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S)
    assert [(s.name, s.own) for s in sources] == [("alpha", True), ("beta", False)]
    elsewhere = equivocation_sources(
        tmp_path, "http://10.0.0.5:8545", 20261, None, TIMEOUT_S
    )  # --chain-url not in nodes.json
    assert [(s.name, s.own) for s in elsewhere] == [("chain node", True), ("alpha", False), ("beta", False)]
    (tmp_path / "nodes" / "nodes.json").write_text("{", encoding="utf-8")
    broken = equivocation_sources(tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S)
    assert [s.name for s in broken] == ["chain node", "nodes.json"]
    book = EquivocationBook(sources=lambda: broken[1:])
    (status,) = book.view(lambda _n: None, lambda _a: None)["nodes"]
    assert status["ok"] is False and "nodes.json is unreadable or malformed" in status["error"]


def endpoint(org: str, index: int, url: str, valid_until: int | None = None) -> KeyRecord:
    return KeyRecord(OrgId(org), index, KeyKind.NODE_ENDPOINT, url.encode(), 0, valid_until,
                     KeyState.OPEN if valid_until is None else KeyState.RETIRED, 0, None)  # fmt: skip


def test_a_node_only_the_chain_lists_is_asked_at_its_peer_route_and_merged(tmp_path: Path, index: ChainIndex) -> None:
    """``epsilon`` joined later and runs its node from its own directory: nodes.json does not list it, the
    directory does. Its peer URL is asked (the injected ``ask``: no socket), its records merged with the own
    node's; an org nodes.json names already, a removed member and a retired endpoint are not asked."""
    write_nodes(tmp_path, [
        NodeEntry(OrgId("alpha"), True, "http://127.0.0.1:8545", "https://127.0.0.1:30303"),
        NodeEntry(OrgId("beta"), True, "http://127.0.0.1:8546", "https://127.0.0.1:30304"),
    ])  # fmt: skip
    joined = "https://10.0.0.9:30310"
    snapshot = TrustSnapshot.of(7, 3, {
        "alpha": (endpoint("alpha", 0, "https://127.0.0.1:30303"),),  # asked over its JSON-RPC already
        "epsilon": (endpoint("epsilon", 0, "https://10.0.0.8:30310", valid_until=5), endpoint("epsilon", 1, joined)),
        "zeta": (endpoint("zeta", 0, "https://10.0.0.10:30311"),),  # removed by governance
    }, {"alpha": MemberStatus.ACTIVE, "epsilon": MemberStatus.ACTIVE, "zeta": MemberStatus.REMOVED})  # fmt: skip
    a, b = answer_of(node_that_saw_equivocations()), node_b_answer()
    asked: list[tuple[str, float]] = []

    def ask(url: str, _context: object, timeout: float) -> object:
        asked.append((url, timeout))
        return b

    sources = equivocation_sources(
        tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S, listed=lambda: (snapshot, 7), ask=ask
    )
    assert [(s.name, s.own) for s in sources] == [("alpha", True), ("beta", False), ("epsilon", False)]
    chain_listed = sources[2]
    own = NodeSource("alpha", lambda: a, own=True)  # the nodes.json ones would ask over sockets
    with client_of(index, EquivocationBook(sources=lambda: [own, chain_listed])) as client:
        body = client.get("/api/v1/validators/equivocations").json()
    assert asked == [(joined, 3.0)]
    assert [(r["type"], r["height"], r["nodes"]) for r in body["equivocations"]] == [
        ("PREPARE", 1, ["alpha", "epsilon"]),  # one record, both nodes
        ("ROUND_CHANGE", 3, ["alpha"]),
        ("PREPARE", 1, ["epsilon"]),  # only the joined firm's node saw it
    ]
    assert body["nodes"][1] == {"name": "epsilon", "own": False, "ok": True, "error": None, "records": 2}
    # without a client certificate the explorer cannot present one at an https peer route: said, not hidden
    (alone,) = equivocation_sources(
        tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S, listed=lambda: (snapshot, 7)
    )[2:]
    with pytest.raises(BackendError, match="no client certificate"):
        alone.fetch()
    assert (
        equivocation_sources(tmp_path, "http://127.0.0.1:8545", 20261, None, TIMEOUT_S, listed=lambda: None)[2:] == []
    )
    assert (PEER_EVIDENCE_PATH, MAX_PEER_EVIDENCE_BYTES) == (EQUIVOCATIONS_PATH, MAX_EVIDENCE_BYTES)  # the node's


def test_a_page_asking_while_the_nodes_are_asked_gets_the_last_answer_without_waiting() -> None:
    """Regression: the book held its lock while it asked the nodes, so every page asking then waited behind that
    one ask (up to its timeout). One ask at a time, made outside the lock: a page that comes while it is in flight
    gets the last answer at once and asks nothing; the ask in flight keeps what it fetched."""
    a, b = answer_of(node_that_saw_equivocations()), node_b_answer()
    clock, asked, asking, release = Clock(), [], threading.Event(), threading.Event()

    def fetch() -> object:
        asked.append(clock.now)
        if len(asked) == 1:
            return a
        asking.set()
        release.wait(30)  # until the page below has had its answer
        return b

    book = EquivocationBook(fetch, max_age=10.0, timeout=60.0, clock=clock)
    first = book.view(lambda _n: None, lambda _a: None)
    clock.now = 10.0
    views: dict[str, dict[str, Any]] = {}
    asker = threading.Thread(target=lambda: views.update(asker=book.view(lambda _n: None, lambda _a: None)))
    reader = threading.Thread(target=lambda: views.update(reader=book.view(lambda _n: None, lambda _a: None)))
    asker.start()
    try:
        assert asking.wait(10), "the second ask never started"
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "a page waited behind the ask in flight"
        assert views["reader"] == first and asked == [0.0, 10.0]  # the last answer; no second ask of this refresh
    finally:
        release.set()
        asker.join(10)
        reader.join(10)
    assert not asker.is_alive()
    assert [r["record"] for r in views["asker"]["equivocations"]] == b  # the ask in flight kept what it fetched
    assert book.view(lambda _n: None, lambda _a: None) == views["asker"] and asked == [0.0, 10.0]


def test_pages_asking_before_the_first_answer_wait_for_the_one_ask_in_flight() -> None:
    a = answer_of(node_that_saw_equivocations())
    asked, asking, release, arrived = [], threading.Event(), threading.Event(), threading.Event()
    looks: list[float] = []

    def clock() -> float:  # the book looks at it once per page: the second look is the second page arriving
        looks.append(0.0)
        if len(looks) == 2:
            arrived.set()
        return 0.0

    def fetch() -> object:
        asked.append(1)
        asking.set()
        release.wait(30)
        return a

    book = EquivocationBook(fetch, timeout=60.0, clock=clock)
    views: dict[str, dict[str, Any]] = {}
    asker = threading.Thread(target=lambda: views.update(asker=book.view(lambda _n: None, lambda _a: None)))
    reader = threading.Thread(target=lambda: views.update(reader=book.view(lambda _n: None, lambda _a: None)))
    asker.start()
    try:
        assert asking.wait(10), "the first ask never started"
        reader.start()
        assert arrived.wait(10), "the second page never came"  # while the ask is in flight, with nothing to show
    finally:
        release.set()
        asker.join(10)
        reader.join(10)
    assert not asker.is_alive() and not reader.is_alive()
    assert asked == [1]  # one ask for both pages
    assert [r["record"] for r in views["reader"]["equivocations"]] == a and views["reader"] == views["asker"]
