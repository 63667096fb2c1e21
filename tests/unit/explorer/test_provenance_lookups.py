"""One provenance answer looks the checkpoint's witnesses up on the chain once (``explorer.api.calls``,
``call_provenance``): the same keys verify the bundle and are answered to the browser, so an answer for a call
whose checkpoint is anchored asks the chain nothing once the anchor's block and that block's keys are kept
(``network.witnesskeys``: the block's hash read again at most once a second, a clock that stands here), and the
first answer reads them once (none, once ``Explorer.warm`` read them as the explorer starts, or
``Explorer.warm_newer`` as the chain index recorded a newer anchor); and a kept bundle is verified once under the
same keys (``Explorer.verified``).

In process, on the py-evm chain (eth-tester) with every JSON-RPC request web3 makes of it counted: the route's
function over a real call index, a real (empty) chain index, the notary client holding the call's complete
bundle as it keeps one, and the explorer's own lookups (``Explorer.witnesses_for``, ``roots_for``, ``keys``) over
a real ``ChainWitnessKeys``."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import MethodType, SimpleNamespace
from typing import Any, cast

import pytest

from chain.backend import EthTesterBackend
from chain.contracts import KeyKind
from chain.ids import OrgId
from chain.trustview import TrustView
from explorer.api import Explorer
from explorer.api.calls import call_provenance
from explorer.calls import CallIndex
from explorer.chainindex import ChainIndex
from explorer.notary_client import NotaryClient
from network.certificates import BoundedCache
from network.identity import load_notary_key
from network.logins import Person
from network.logsetup import log_origin, roots_from_description
from network.witnesskeys import ChainWitnessKeys
from notary.bundle import EvidenceBundle, EvidenceCheckpoint, EvidenceInclusion, EvidenceReceipt
from notary.event import canonical_entry
from notary.log.hashing import hash_leaf
from notary.logsuite import public_bytes
from tests.support.consortium import Consortium, described
from tests.support.notary_events import event
from tests.support.rpc_count import counted_requests

pytestmark = pytest.mark.parametrize("backend", [pytest.param("eth-tester")], indirect=True)

PASS = b"provenance-lookups"
EVENT_ID = "ev-1"
SIZE = 2  # the checkpoint the call's bundle proves against, anchored on chain
#: What web3 asks eth-tester around a contract call (its accounts, the chain id), not a read of the chain.
CLIENT_BOOKKEEPING = frozenset({"eth_accounts", "eth_chainId"})
REGULATOR = Person("reg", "alice", "regulator", "ab" * 32, "alice (Reg)", 2**53 - 1)


@pytest.fixture
def requests(consortium: Consortium) -> Iterator[Counter[str]]:
    """The JSON-RPC methods the chain's provider is asked, by count (cleared by the test as it goes)."""
    assert isinstance(consortium.backend, EthTesterBackend)
    with counted_requests(consortium.backend) as seen:
        yield seen


def bundle_of(origin: str, size: int = SIZE) -> EvidenceBundle:
    """The shape of the notary's complete bundle of the call proven against the checkpoint of ``size`` (its checks
    fail: what is counted is the lookups)."""
    entry = canonical_entry(event(event_id=EVENT_ID, gateway_seq=1))
    leaf = hash_leaf(entry)
    receipt = EvidenceReceipt(EVENT_ID, origin, 0, leaf, 0, 60, "batch note\n", ())
    return EvidenceBundle(
        origin=origin, event_id=EVENT_ID, index=0, entry=entry, leaf_hash=leaf, receipt=receipt,
        checkpoint=EvidenceCheckpoint(size, f"{origin}\n{size}\n", ()), inclusion=EvidenceInclusion(size, ()),
        anchor=None, pending=(),
    )  # fmt: skip


@pytest.fixture
def explorer(consortium: Consortium, tmp_path: Path) -> Iterator[Explorer]:
    c = consortium
    description = described(c, tmp_path, "prov", PASS)
    origin = log_origin(description)
    op = c.signers["op"]
    c.trust.add_key(op, KeyKind.LOG_KEY, public_bytes(load_notary_key(tmp_path, OrgId("op"), PASS)))
    c.anchors.anchor(op, origin, SIZE, b"\x01" * 32, b"\x02" * 32)
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    calls = CallIndex(tmp_path / "calls.db")
    calls.add_entries(0, [canonical_entry(event(event_id=EVENT_ID, gateway_seq=1))])
    chain = ChainIndex(tmp_path / "chain.db")
    notary = NotaryClient("http://127.0.0.1:9")  # never asked: it keeps the call's complete bundle
    notary._evidence[EVENT_ID] = bundle_of(origin)
    witness_keys = ChainWitnessKeys(description, c.backend, view=view, clock=lambda: 0.0)  # a clock that stands
    parts = SimpleNamespace(
        description=description, calls=calls, chain=chain, notary=notary, roots=roots_from_description(description),
        visibility=description.query_visibility(), witness_keys=witness_keys, _verdicts=BoundedCache(16),
    )  # fmt: skip
    names = ("witnesses_for", "roots_for", "keys", "verified", "warm", "warm_newer", "keep_warm")
    for name in names:  # the explorer's own, as routes and the warming thread call them
        setattr(parts, name, MethodType(getattr(Explorer, name), parts))
    try:
        yield cast(Explorer, parts)
    finally:
        notary.close()
        calls.close()
        chain.close()


def provenance(explorer: Explorer) -> dict[str, Any]:
    answer = call_provenance(explorer, REGULATOR, EVENT_ID, lambda _orgs: None)
    return cast(dict[str, Any], json.loads(bytes(answer.body)))


def test_one_provenance_answer_looks_the_checkpoints_witnesses_up_once(
    explorer: Explorer, consortium: Consortium, tmp_path: Path, requests: Counter[str]
) -> None:
    anchor_block = int(consortium.anchors.at_size(log_origin(explorer.description), SIZE).block_number)  # type: ignore[union-attr]
    one_lookup = ChainWitnessKeys(explorer.description, consortium.backend, view=explorer.witness_keys._view)  # type: ignore[union-attr]
    requests.clear()
    one_lookup.for_checkpoint(SIZE)
    cold = Counter(requests)  # what one lookup of the checkpoint's keys asks of a fresh cache

    requests.clear()
    first = provenance(explorer)
    assert first["keys"]["witness_keys"]["block"] == anchor_block and first["keys"]["witness_keys"]["anchored"]
    assert requests == cold, (requests, cold)  # the first answer: that one lookup, not one per step

    for _ in range(3):  # each later answer within ANCHOR_RECHECK_S (a clock that stands): nothing read
        requests.clear()
        assert provenance(explorer)["keys"] == first["keys"]
        reads = {m: n for m, n in requests.items() if m not in CLIENT_BOOKKEEPING}
        assert reads == {}, requests


def test_a_warmed_explorer_answers_the_first_provenance_of_the_latest_anchor_reading_nothing(
    explorer: Explorer, requests: Counter[str]
) -> None:
    """``Explorer.warm``, run as the explorer starts, reads the keys valid at the latest anchor's block: the first
    answer about a call of that checkpoint then asks the chain nothing."""
    explorer.warm()
    assert {m for m in requests if m not in CLIENT_BOOKKEEPING}  # the chain was read, before any answer
    requests.clear()
    first = provenance(explorer)
    assert first["keys"]["witness_keys"]["anchored"]
    assert {m: n for m, n in requests.items() if m not in CLIENT_BOOKKEEPING} == {}, requests


def anchored_in_index(chain: ChainIndex, number: int, size: int) -> None:
    """Blocks up to ``number`` in the explorer's chain index, the last holding an ``Anchored`` event of ``size``
    (as the chain follower indexes one)."""
    for n in range(chain.head() + 1, number + 1):
        tx = {"hash": f"0x{n:064x}", "index": 0}
        events = [{"log_index": 0, "tx_hash": tx["hash"], "contract": "AuditAnchor", "event": "Anchored",
                   "args": {"tree_size": size}}] if n == number else []  # fmt: skip
        block = {"number": n, "hash": f"0x{n + 1:064x}", "parent_hash": f"0x{n:064x}", "timestamp": n}
        chain.add_block(block, [tx] if events else [], events)


def test_each_newer_anchor_the_index_records_is_prepared_before_its_first_answer(
    explorer: Explorer, consortium: Consortium, requests: Counter[str]
) -> None:
    """``Explorer.warm_newer``, run by the explorer's warming thread every poll: the first round warms; a round
    with no newer ``Anchored`` event in the chain index asks the node nothing at all; once the index records a
    newer one, the round reads that anchor's keys, and the first answer about a call of its checkpoint then asks
    the chain nothing."""
    seen = explorer.warm_newer(None)
    assert seen == (0, -1)  # an empty index: no anchor seen, but the first round warms all the same
    assert {m for m in requests if m not in CLIENT_BOOKKEEPING}
    requests.clear()
    for _ in range(2):
        assert explorer.warm_newer(seen) == seen
        assert requests == Counter(), requests  # nothing newer: not even web3's bookkeeping

    op, origin = consortium.signers["op"], log_origin(explorer.description)
    consortium.anchors.anchor(op, origin, SIZE + 1, b"\x03" * 32, b"\x04" * 32)
    anchored_in_index(explorer.chain, 3, SIZE + 1)
    explorer.notary._evidence[EVENT_ID] = bundle_of(origin, SIZE + 1)  # the call, now proven to the newer one
    requests.clear()
    assert explorer.warm_newer(seen) == (3, 0)
    assert {m for m in requests if m not in CLIENT_BOOKKEEPING}  # the newer anchor's keys were read
    requests.clear()
    first = provenance(explorer)
    assert first["keys"]["witness_keys"]["anchored"]
    assert {m: n for m, n in requests.items() if m not in CLIENT_BOOKKEEPING} == {}, requests


def test_the_warming_thread_warms_once_then_stops_survives_an_index_it_cannot_read_and_needs_a_chains_keys(
    explorer: Explorer, requests: Counter[str], caplog: pytest.LogCaptureFixture
) -> None:
    """``Explorer.keep_warm`` warms before it first waits, returns once ``stopping`` is set, logs (never raises)
    an index it cannot read, as when the explorer closes it while stopping, and returns at once for an explorer
    that reads no chain's keys."""
    stopping = threading.Event()
    stopping.set()
    explorer.keep_warm(stopping, 60.0)  # set already: one round, then back at once
    assert {m for m in requests if m not in CLIENT_BOOKKEEPING}
    explorer.chain.close()
    requests.clear()
    with caplog.at_level(logging.INFO, logger="explorer.api"):
        explorer.keep_warm(stopping, 60.0)
    assert requests == Counter()
    assert "could not look for a newer anchor" in caplog.text

    explorer.witness_keys = None  # consortium.json's keys: nothing to prepare, so no thread left polling
    running = threading.Thread(target=explorer.keep_warm, args=(threading.Event(), 60.0), daemon=True)
    running.start()
    running.join(10.0)
    assert not running.is_alive()


def test_a_kept_bundle_is_verified_once_under_the_same_witnesses(
    explorer: Explorer, consortium: Consortium, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm answer (the bundle kept by the notary client, the checkpoint's witnesses kept by ChainWitnessKeys)
    verifies nothing again and answers the same steps; once the directory's records change (a key added: new
    witnesses objects), the bundle is verified anew; without a chain's keys it is verified at every answer."""
    import explorer.api.deps as deps
    from notary.verify import verify_evidence as real

    verified: list[EvidenceBundle] = []

    def counting(bundle: EvidenceBundle, roots: Any) -> Any:
        verified.append(bundle)
        return real(bundle, roots)

    monkeypatch.setattr(deps, "verify_evidence", counting)
    first = provenance(explorer)
    assert len(verified) == 1
    for _ in range(2):
        assert provenance(explorer)["steps"] == first["steps"]
    assert len(verified) == 1

    view = explorer.witness_keys._view  # type: ignore[union-attr]
    consortium.trust.add_key(consortium.signers["beta"], KeyKind.WITNESS_KEY, b"\x07" * 32)
    assert view is not None and view.refresh()  # new records: new witnesses for the checkpoint's block
    assert provenance(explorer)["steps"] == first["steps"]
    assert len(verified) == 2

    explorer.witness_keys = None  # consortium.json's keys, a new object each answer: verified each time, none kept
    kept = len(explorer._verdicts)
    for count in (3, 4):
        provenance(explorer)
        assert len(verified) == count
    assert len(explorer._verdicts) == kept
