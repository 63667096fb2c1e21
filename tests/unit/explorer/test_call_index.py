"""The call index against a plain Python filter of the same events: every filter, the tenant restriction,
pagination, exports, aggregates, all-or-nothing appends, checkpoints and gaps.

Most tests shrink the chunk (the unit of the bitmaps) to 512 entries, so a few thousand events span several
chunks and time bundles and every chunk boundary is crossed."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer import calls
from explorer.calls import CallFilter, CallIndex, CallStore, bulk_load
from notary.event import LEDGER_QUERY_CENTER, canonical_entry, is_ledger_query, parse_entry
from notary.log.errors import MalformedError
from notary.log.hashing import hash_leaf, root_of
from notary.storage.base import AnchorJSON, CheckpointJSON
from privacy.record import format_summary
from tests.support.notary_events import event
from tests.support.privacy_job import CLIENT_ORG, SERVER_ORG, small_job

BASE_MS = 1_795_000_000_000
ORGS = ("jinghua-sec", "shuzhi-tech", "huaxin-bank", "ruida-data")
APIS = (  # (center, unit, api, provider)
    ("public-business", "news", "news-latest", "shuzhi-tech"),
    ("public-business", "news", "news-search", "shuzhi-tech"),
    ("market-data", "quotes", "quotes-level2", "huaxin-bank"),
    ("risk", "credit", "credit-score", "ruida-data"),
    ("risk", "credit", "credit-watch", "jinghua-sec"),
)
REASONS = ("no_grant", "grant_expired", "quota_exhausted")
GRANTS = tuple("0x" + f"{i:x}" * 64 for i in range(1, 4))
TRACES = ("4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c", "00000000000000000000000000000a01")
STATUSES = (200, 403, 429, 500)
OPERATOR = "shuzhi-tech"  # runs the explorer whose records of people's queries are the ledger queries


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "CHUNK_BITS", 9)
    monkeypatch.setattr(calls, "CHUNK", 512)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[CallIndex]:
    idx = CallIndex(tmp_path / "calls.db")
    yield idx
    idx.close()


def make_event(i: int, *, caller: int, api: int, deny: bool, reason: int, grant: int | None, status: int,
               asset: int | None, trace: int, jitter: int, query: bool = False) -> dict[str, Any]:  # fmt: skip
    """An event of the APIS; with ``query``, a person's query recorded by the explorer of OPERATOR instead."""
    center, unit, name, provider = APIS[api]
    ev = event(
        event_id=f"ev-{i}",
        traceparent=f"00-{TRACES[trace]}-{i + 1:016x}-01",
        time_ms=BASE_MS + 40 * i + jitter,
        caller_org=ORGS[caller],
        provider_org=provider,
        center=center,
        unit=unit,
        api=name,
        route=f"/v1/{name}",
        asset_id=None if asset is None else f"asset-{asset}",
        asset_version=None if asset is None else 1 + i % 3,
        grant_id=GRANTS[grant] if grant is not None else (None if deny else GRANTS[0]),
        decision="deny" if deny else "allow",
        denial_reason=REASONS[reason] if deny else None,
        response_digest=None if deny else f"{i:064x}",
        status=STATUSES[status] if not deny else (403, 429)[status % 2],
        latency_us=i * 7,
        gateway_id=f"{provider}/gw-1",
        gateway_seq=i + 1,
    )
    if query:
        ev.update(provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER, api="calls.search",
                  gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}", grant_id=None)  # fmt: skip
    return ev


def varied_events(n: int) -> list[dict[str, Any]]:
    """``n`` events cycling through every value, times close to log order but not in it."""
    return [
        make_event(
            i,
            caller=i % 4,
            api=(i // 3) % 5,
            deny=i % 7 == 3,
            reason=i % 3,
            grant=None if i % 11 == 0 else i % 3,
            status=(i // 5) % 4,
            asset=None if i % 13 == 0 else i % 3,
            trace=i % 3,
            jitter=(i * 7919) % 1500 - 750,
        )
        for i in range(n)
    ]


def matches(ev: dict[str, Any], f: CallFilter) -> bool:
    """The plain Python meaning of a filter."""
    checks = (
        (f.caller, ev["caller_org"]),
        (f.provider, ev["provider_org"]),
        (f.api, ev["api"]),
        (f.center, ev["center"]),
        (f.asset, ev["asset_id"]),
        (f.grant, ev["grant_id"]),
        (f.decision, ev["decision"]),
        (f.status, ev["status"]),
        (f.denial_reason, ev["denial_reason"]),
        (f.trace_id, ev["traceparent"][3:35]),
    )
    if any(want is not None and want != have for want, have in checks):
        return False
    if f.from_ms is not None and ev["time_ms"] < f.from_ms:
        return False
    if f.to_ms is not None and ev["time_ms"] >= f.to_ms:
        return False
    return f.party is None or f.party in (
        (ev["caller_org"],) if is_ledger_query(ev) else (ev["caller_org"], ev["provider_org"])
    )


def load(index: CallStore, events: Sequence[dict[str, Any]], batches: Sequence[int] = ()) -> list[bytes]:
    """Add the events' entries, cut into batches of the given sizes (the rest in one)."""
    entries = [canonical_entry(e) for e in events]
    at = 0
    for size in [*batches, len(entries)]:
        part = entries[at : at + size]
        if part:
            index.add_entries(at, part)
            at += len(part)
    return entries


def search_all(index: CallStore, f: CallFilter, page: int) -> list[int]:
    """Every matching leaf index, newest first, page by page through ``before``."""
    out: list[int] = []
    before = None
    while True:
        rows = index.search(f, before=before, limit=page)
        out += [r["index"] for r in rows]
        if len(rows) < page:
            return out
        before = rows[-1]["index"]


def expected_row(i: int, ev: dict[str, Any], entry: bytes) -> dict[str, Any]:
    return {
        "index": i,
        "event_id": ev["event_id"],
        "time_ms": ev["time_ms"],
        "caller_org": ev["caller_org"],
        "provider_org": ev["provider_org"],
        "center": ev["center"],
        "unit": ev["unit"],
        "api": ev["api"],
        "method": ev["method"],
        "route": ev["route"],
        "asset_id": ev["asset_id"],
        "asset_version": ev["asset_version"],
        "grant_id": ev["grant_id"],
        "decision": ev["decision"],
        "denial_reason": ev["denial_reason"],
        "status": ev["status"],
        "latency_us": ev["latency_us"],
        "trace_id": ev["traceparent"][3:35],
        "gateway_id": ev["gateway_id"],
        "gateway_seq": ev["gateway_seq"],
        "leaf_hash": base64.b64encode(hash_leaf(entry)).decode(),
    }


# -- rows ---------------------------------------------------------------------------------------------------


def test_rows_hold_every_field_and_the_exact_entry(index: CallIndex) -> None:
    events = varied_events(1300)
    entries = load(index, events, [1, 255, 300, 600])
    assert index.size() == 1300
    rows = index.search(CallFilter(), before=None, limit=1300)
    assert rows == [expected_row(i, events[i], entries[i]) for i in range(1299, -1, -1)]
    for i in (0, 11, 12, 511, 512, 1299):
        found = index.by_event_id(f"ev-{i}")
        assert found is not None
        assert found.pop("entry") == entries[i]
        assert found == expected_row(i, events[i], entries[i])
        assert index.by_index(i) == {**found, "entry": entries[i]}
    assert index.by_event_id("ev-1300") is None
    assert index.by_index(1300) is None and index.by_index(-1) is None
    assert index.root() == root_of([hash_leaf(e) for e in entries])


def test_events_of_both_schema_versions_rebuild_from_their_rows(index: CallIndex) -> None:
    events = varied_events(6)
    for i in (1, 2, 4):
        events[i]["v"] = 2  # salted per event from a vault: the same fields
    entries = [canonical_entry(e) for e in events]
    index.add_entries(0, entries)
    for i, entry in enumerate(entries):
        found = index.by_index(i)
        assert found is not None and found["entry"] == entry
    with index._snapshot() as conn:  # every row rebuilt its entry: none kept as bytes
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0
    assert index.root() == root_of([hash_leaf(e) for e in entries])


def test_events_of_version_3_the_sm_suites_rebuild_from_their_rows_too(index: CallIndex) -> None:
    events = varied_events(4)
    events[1]["v"], events[2]["v"], events[3]["v"] = 3, 2, 3  # version 3: HKDF-SM3 salts, the same fields
    entries = [canonical_entry(e) for e in events]
    index.add_entries(0, entries)
    for i, entry in enumerate(entries):
        found = index.by_index(i)
        assert found is not None and found["entry"] == entry
    with index._snapshot() as conn:  # every row rebuilt its entry: none kept as bytes
        assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_entries_that_do_not_rebuild_byte_for_byte_are_kept_as_they_are(index: CallIndex) -> None:
    ev = varied_events(3)
    odd = [
        json.dumps(ev[0], sort_keys=True, separators=(",", ":")).replace('"ab', '"AB', 1).encode(),  # upper hex
        json.dumps(ev[1], separators=(",", ":")).encode(),  # keys not sorted
        canonical_entry({**ev[2], "route": '/v1/a"b\\c\u00e9\u2028'}),
    ]
    index.add_entries(0, odd)
    for i, entry in enumerate(odd):
        found = index.by_event_id(f"ev-{i}")
        assert found is not None and found["entry"] == entry
        assert index.by_index(i) == found
        assert found["leaf_hash"] == base64.b64encode(hash_leaf(entry)).decode()
    assert index.search(CallFilter(caller=ev[0]["caller_org"]), before=None, limit=5)[0]["index"] == 0


def test_a_query_naming_its_subject_keeps_its_entry_and_shows_the_subject_in_its_detail(index: CallIndex) -> None:
    """The rows have no subject column: a query naming one is kept as its bytes, and its detail (by event id or
    index) names the subject read from them; a search row does not."""
    query = event(
        event_id="q-1", caller_org="csrc", provider_org="op", center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER,
        api="calls.detail", asset_id=None, asset_version=None, grant_id=None,
        gateway_id=f"op/{LEDGER_QUERY_CENTER}", subject="huaxin-bank,ruida-data",
    )  # fmt: skip
    entry = canonical_entry(parse_entry(canonical_entry(query)))
    index.add_entries(0, [entry, canonical_entry(varied_events(1)[0])])
    found = index.by_event_id("q-1")
    assert found is not None and found["entry"] == entry and found["subject"] == "huaxin-bank,ruida-data"
    assert index.by_index(0) == found
    assert "subject" not in (index.by_index(1) or {"subject": 1})
    assert "subject" not in index.search(CallFilter(), before=None, limit=5)[-1]


def test_by_job_finds_the_steps_naming_a_psi_job_in_log_order(index: CallIndex) -> None:
    """Entries naming a PSI job (``psi_job``) are kept as their bytes (a record step's with its ``psi_summary``) and
    found by their tag, in log order, across appends; another tag, a malformed one or an entry naming none finds
    nothing of them."""
    tag, other = "a1" * 32, "b2" * 32
    record, job = "c3" * 32, small_job()  # the record step's entry also holds the record's summary
    plain = varied_events(4)
    named = [
        event(event_id="s-1", psi_job=tag),
        event(event_id="s-2", psi_job=other),
        event(
            event_id="s-3", psi_job=tag, psi_record=record, psi_summary=format_summary(job.signed),
            caller_org=CLIENT_ORG, provider_org=SERVER_ORG, grant_id=job.signed.record.grant_id,
        ),
    ]  # fmt: skip
    index.add_entries(0, [canonical_entry(e) for e in (plain[0], named[0], plain[1], named[1])])
    index.add_entries(4, [canonical_entry(e) for e in (plain[2], named[2], plain[3])])
    found = index.by_job(tag)
    assert [(c["index"], c["event_id"]) for c in found] == [(1, "s-1"), (5, "s-3")]
    assert [c["entry"] for c in found] == [canonical_entry(named[0]), canonical_entry(named[2])]
    assert found[1] == index.by_index(5)
    assert [c["event_id"] for c in index.by_job(other)] == ["s-2"]
    for nothing in ("d4" * 32, tag.upper(), tag[:-2], "zz" * 32):
        assert index.by_job(nothing) == []


def test_the_smallest_anchored_checkpoint_covering_a_leaf(index: CallIndex) -> None:
    def size(found: CheckpointJSON | None) -> int | None:
        return None if found is None else found["size"]

    def checkpoint(size: int, anchored: bool) -> CheckpointJSON:
        return CheckpointJSON(
            size=size, root="cm9vdA==", time_ms=size, published_ms=None, cosigners=[], note="n",
            anchor=confirmed(size, size) if anchored else None,
        )  # fmt: skip

    index.put_checkpoints([checkpoint(2, True), checkpoint(4, False), checkpoint(6, False), checkpoint(8, True)])
    assert [size(index.anchored_covering(i)) for i in (0, 1, 2, 5, 7, 8)] == [2, 2, 8, 8, 8, None]
    assert size(index.checkpoint_covering(2)) == 4
    index.put_checkpoints([checkpoint(4, True)])  # its anchor confirmed later: the row is replaced
    assert size(index.anchored_covering(2)) == 4


def test_add_entries_refuses_a_wrong_start_or_a_bad_entry_and_changes_nothing(index: CallIndex) -> None:
    events = varied_events(600)
    entries = load(index, events[:300])
    before = (index.size(), index.root(), index.search(CallFilter(), before=None, limit=1000))
    more = [canonical_entry(e) for e in events[300:]]
    with pytest.raises(ValueError, match="start at the index size 300"):
        index.add_entries(299, more)
    with pytest.raises(ValueError):
        index.add_entries(301, more)
    for bad in (b"{not json", b"[]", canonical_entry(events[0])[:-1], json.dumps({"v": 1}).encode()):
        with pytest.raises(MalformedError, match="entry 400 is not an event"):
            index.add_entries(300, [*more[:100], bad, *more[101:]])
    after = (index.size(), index.root(), index.search(CallFilter(), before=None, limit=1000))
    assert after == before
    assert index.by_event_id("ev-300") is None
    late = CallFilter(api="news-latest", from_ms=BASE_MS + 40 * 300)
    assert search_all(index, late, 10) == [i for i in range(299, -1, -1) if matches(events[i], late)]
    index.add_entries(300, more)  # the same entries go in once the batch is right
    assert index.size() == 600
    assert index.root() == root_of([hash_leaf(e) for e in entries + more])


def test_a_large_batch_over_many_chunks_is_all_or_nothing(index: CallIndex) -> None:
    events = varied_events(7000)
    entries = [canonical_entry(e) for e in events]
    index.add_entries(0, entries[:10])
    before = (index.size(), index.root(), index.search(CallFilter(), before=None, limit=20))
    for bad in (5, 2500, 6989):
        with pytest.raises(MalformedError, match=f"entry {10 + bad} is not an event"):
            index.add_entries(10, [*entries[10 : 10 + bad], b"{}", *entries[11 + bad :]])
        assert (index.size(), index.root(), index.search(CallFilter(), before=None, limit=20)) == before
    index.add_entries(10, entries[10:])
    assert index.size() == 7000 and index.root() == root_of([hash_leaf(e) for e in entries])
    f = CallFilter(party="ruida-data", decision="deny")
    assert search_all(index, f, 100) == [i for i in range(6999, -1, -1) if matches(events[i], f)]


# -- filters ------------------------------------------------------------------------------------------------


EACH_FILTER = [
    *(CallFilter(caller=o) for o in ORGS),
    *(CallFilter(provider=o) for o in ORGS),
    *(CallFilter(api=a[2]) for a in APIS),
    CallFilter(center="risk"),
    CallFilter(asset="asset-1"),
    *(CallFilter(grant=g) for g in GRANTS),
    CallFilter(decision="allow"),
    CallFilter(decision="deny"),
    *(CallFilter(status=s) for s in STATUSES),
    *(CallFilter(denial_reason=r) for r in REASONS),
    CallFilter(from_ms=BASE_MS + 40 * 700),
    CallFilter(to_ms=BASE_MS + 40 * 300),
    CallFilter(from_ms=BASE_MS + 40 * 512 - 100, to_ms=BASE_MS + 40 * 530),
    *(CallFilter(trace_id=t) for t in TRACES),
    *(CallFilter(party=o) for o in ORGS),
    CallFilter(party="huaxin-bank", decision="deny", status=429),
    CallFilter(party="jinghua-sec", api="credit-watch", from_ms=BASE_MS + 10_000, to_ms=BASE_MS + 40_000),
    CallFilter(caller="ruida-data", provider="shuzhi-tech", grant=GRANTS[1], trace_id=TRACES[2]),
    CallFilter(center="public-business", asset="asset-2", denial_reason="grant_expired"),
    # nothing matches:
    CallFilter(decision="allow", denial_reason="no_grant"),
    CallFilter(caller="nobody"),
    CallFilter(party="nobody"),
    CallFilter(decision="maybe"),
    CallFilter(status=999),
    CallFilter(trace_id="not-hex"),
    CallFilter(grant="0x" + "f" * 64),
    CallFilter(from_ms=BASE_MS + 10**9),
    CallFilter(to_ms=BASE_MS - 10**6),
]


@pytest.mark.parametrize("f", EACH_FILTER, ids=lambda f: ",".join(f"{k}={v}" for k, v in vars_of(f).items()))
def test_each_filter_finds_exactly_the_matching_calls(tmp_path: Path, f: CallFilter) -> None:
    index = CallIndex(tmp_path / "calls.db")
    events = varied_events(1400)
    load(index, events, [700])
    want = [i for i in range(len(events) - 1, -1, -1) if matches(events[i], f)]
    assert search_all(index, f, 50) == want
    assert [r["index"] for r in index.iter_calls(f, batch=64)] == want[::-1]
    index.close()


def vars_of(f: CallFilter) -> dict[str, Any]:
    return {k: getattr(f, k) for k in CallFilter.__slots__ if getattr(f, k) is not None}


@pytest.mark.parametrize("spread", [0, 700, 30_000, 300_000])
def test_time_ranges_at_every_bundle_edge(tmp_path: Path, spread: int) -> None:
    rng = random.Random(spread)
    events = [
        make_event(i, caller=i % 4, api=i % 5, deny=False, reason=0, grant=0, status=0, asset=0, trace=0,
                   jitter=rng.randint(-spread, spread))
        for i in range(1100)
    ]  # fmt: skip
    index = CallIndex(tmp_path / "calls.db")
    load(index, events, [100, 200, 256, 1, 300])
    edges = set()
    for b in range(0, 1100, 256):
        times = [ev["time_ms"] for ev in events[b : b + 256]]
        edges |= {t + d for t in (min(times), max(times), times[0], times[-1]) for d in (-1, 0, 1)}
    edges |= {events[0]["time_ms"] - spread - 5, events[-1]["time_ms"] + spread + 5}
    for t in sorted(edges):
        for f in (CallFilter(from_ms=t), CallFilter(to_ms=t), CallFilter(from_ms=t, to_ms=t + 1000),
                  CallFilter(from_ms=t - 3000, to_ms=t, party="ruida-data")):  # fmt: skip
            want = [i for i in range(len(events) - 1, -1, -1) if matches(events[i], f)]
            assert search_all(index, f, 100) == want, f
    index.close()


def test_pages_through_before_cover_each_call_once(index: CallIndex) -> None:
    events = varied_events(1500)
    load(index, events, [3, 509, 700])
    for f in (CallFilter(), CallFilter(party="ruida-data"), CallFilter(decision="deny", center="risk")):
        want = [i for i in range(1499, -1, -1) if matches(events[i], f)]
        for page in (1, 7, 50, 200, 5000):
            got = search_all(index, f, page)
            assert got == want and len(set(got)) == len(got)
        assert index.search(f, before=want[3], limit=2) == index.search(f, before=None, limit=6)[4:6]
        assert index.search(f, before=0, limit=10) == []
        assert index.search(f, before=None, limit=0) == []


def test_iter_calls_streams_in_order_and_stops_at_the_size_when_it_started(index: CallIndex) -> None:
    events = varied_events(1200)
    load(index, events[:1000])
    f = CallFilter(party="shuzhi-tech")
    stream = index.iter_calls(f, batch=100)
    first = [next(stream) for _ in range(150)]
    load_more = [canonical_entry(e) for e in events[1000:]]
    index.add_entries(1000, load_more)  # appended while the export runs
    rest = list(stream)
    got = [r["index"] for r in first + rest]
    assert got == [i for i in range(1000) if matches(events[i], f)]
    assert [r["index"] for r in index.iter_calls(CallFilter(), batch=1)] == list(range(1200))
    assert list(index.iter_calls(CallFilter(caller="nobody"))) == []


# -- the tenant restriction, as a property ---------------------------------------------------------------------


def random_events(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` events with every field drawn at random (a seeded draw: Hypothesis draws sizes and seeds)."""
    rng = random.Random(seed)
    spread = rng.choice((0, 200, 3000, 60_000))  # how far event times stray from log order
    return [
        make_event(
            i,
            caller=rng.randrange(4),
            api=rng.randrange(5),
            deny=rng.random() < 0.3,
            reason=rng.randrange(3),
            grant=rng.choice((None, 0, 1, 2)),
            status=rng.randrange(4),
            asset=rng.choice((None, 0, 1, 2)),
            trace=rng.randrange(3),
            jitter=rng.randint(-spread, spread),
            query=rng.random() < 0.2,
        )
        for i in range(n)
    ]


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "caller": st.sampled_from(ORGS),
    "provider": st.sampled_from(ORGS),
    "api": st.sampled_from([a[2] for a in APIS]),
    "center": st.sampled_from(["risk", "market-data", "public-business", LEDGER_QUERY_CENTER]),
    "asset": st.sampled_from(["asset-0", "asset-1", "asset-2"]),
    "grant": st.sampled_from(GRANTS),
    "decision": st.sampled_from(["allow", "deny"]),
    "status": st.sampled_from(STATUSES),
    "denial_reason": st.sampled_from(REASONS),
    "from_ms": st.integers(BASE_MS - 70_000, BASE_MS + 40 * 1400),
    "to_ms": st.integers(BASE_MS - 70_000, BASE_MS + 40 * 1400),
    "trace_id": st.sampled_from(TRACES),
    "party": st.sampled_from([*ORGS, "nobody"]),
}
#: Filters of zero to four fields (more would rarely match anything).
filters = (
    st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4, unique=True)
    .flatmap(lambda keys: st.fixed_dictionaries({k: FIELD_VALUES[k] for k in keys}))
    .map(lambda fields: CallFilter(**fields))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 1300),
    seed=st.integers(0, 2**32),
    cuts=st.lists(st.integers(1, 700), max_size=4),
    queries=st.lists(filters, min_size=1, max_size=8),
    page=st.integers(1, 60),
)
def test_search_is_the_plain_filter_and_a_party_sees_only_its_calls(
    n: int, seed: int, cuts: list[int], queries: list[CallFilter], page: int
) -> None:
    events = random_events(n, seed)
    with TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(calls, "CHUNK_BITS", 8)  # a chunk per bundle: many chunk boundaries
        patch.setattr(calls, "CHUNK", 256)
        index = CallIndex(Path(tmp) / "calls.db")
        try:
            load(index, events, cuts)
            for f in queries:
                want = [i for i in range(len(events) - 1, -1, -1) if matches(events[i], f)]
                rows = []
                before = None
                while True:
                    found = index.search(f, before=before, limit=page)
                    rows += found
                    if len(found) < page:
                        break
                    before = found[-1]["index"]
                assert [r["index"] for r in rows] == want
                assert [r["index"] for r in index.iter_calls(f, batch=page)] == want[::-1]
                if f.party is not None:
                    assert all(f.party in (r["caller_org"], r["provider_org"]) for r in rows)
                    assert all(r["caller_org"] == f.party for r in rows if r["center"] == LEDGER_QUERY_CENTER)
        finally:
            index.close()


# -- aggregates ---------------------------------------------------------------------------------------------


def test_per_minute_counts_calls_and_denials_by_minute_and_center(index: CallIndex) -> None:
    events = varied_events(4000)  # 160 s of calls: three minutes and a bit
    load(index, events, [1000, 1000])
    assert BASE_MS % 60_000 == 40_000  # so: within a second, on a second, on a minute
    for since in (
        BASE_MS - 60_000,
        BASE_MS + 12_345,
        BASE_MS + 13_000,
        BASE_MS + 20_000,
        BASE_MS + 59_999,
        BASE_MS + 60_000,
        BASE_MS + 10**7,
    ):
        for party in (None, "huaxin-bank", "nobody"):
            want: Counter[tuple[int, str]] = Counter()
            denials: Counter[tuple[int, str]] = Counter()
            for ev in events:
                if ev["time_ms"] >= since and (party is None or party in (ev["caller_org"], ev["provider_org"])):
                    key = (ev["time_ms"] // 60_000 * 60_000, ev["center"])
                    want[key] += 1
                    denials[key] += ev["decision"] == "deny"
            got = index.per_minute(since, party)
            assert got == [
                {"minute_ms": m, "center": c, "calls": want[(m, c)], "denials": denials[(m, c)]}
                for m, c in sorted(want)
            ]


def test_report_sums_a_firms_calls_made_and_served(index: CallIndex) -> None:
    events = varied_events(4000)
    load(index, events, [1500])
    org = "jinghua-sec"
    periods = ((BASE_MS - 10**6, BASE_MS + 10**7), (BASE_MS + 1234, BASE_MS + 130_017), (BASE_MS + 5, BASE_MS + 50))
    for start, end in periods:
        report = index.report(org, start, end)
        chosen = [ev for ev in events if start <= ev["time_ms"] < end]
        made = [ev for ev in chosen if ev["caller_org"] == org]
        served = [ev for ev in chosen if ev["provider_org"] == org]
        assert report["org"] == org and (report["from_ms"], report["to_ms"]) == (start, end)
        for side, evs in ((report["made"], made), (report["served"], served)):
            denied = sum(ev["decision"] == "deny" for ev in evs)
            assert (side["calls"], side["denied"]) == (len(evs), denied)
            assert side["allowed"] == len(evs) - denied
            by_api = Counter((ev["center"], ev["api"], ev["decision"]) for ev in evs)
            assert {(r["center"], r["api"], r["decision"]): r["calls"] for r in side["by_api"]} == by_api
        reasons = Counter(("made", ev["denial_reason"]) for ev in made if ev["decision"] == "deny")
        reasons += Counter(("served", ev["denial_reason"]) for ev in served if ev["decision"] == "deny")
        assert {(d["side"], d["reason"]): d["calls"] for d in report["denials"]} == reasons
        counterparts: dict[str, list[int]] = {}
        for ev in made:
            counterparts.setdefault(ev["provider_org"], [0, 0, 0, 0])[0] += 1
            counterparts[ev["provider_org"]][2] += ev["decision"] == "deny"
        for ev in served:
            counterparts.setdefault(ev["caller_org"], [0, 0, 0, 0])[1] += 1
            counterparts[ev["caller_org"]][3] += ev["decision"] == "deny"
        assert {
            c["org"]: [c["made"], c["served"], c["denied_made"], c["denied_served"]] for c in report["counterparts"]
        } == counterparts
    empty = index.report("nobody", BASE_MS, BASE_MS + 10**7)
    assert empty["made"]["calls"] == empty["served"]["calls"] == 0 and empty["counterparts"] == []


def with_ledger_queries(n: int) -> list[dict[str, Any]]:
    """``varied_events`` with every fifth one a ledger query (OPERATOR's explorer recording a firm's query)."""
    events = varied_events(n)
    for i in range(2, n, 5):
        events[i].update(provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER,
                         api="calls.search", gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}", grant_id=None)  # fmt: skip
    return events


def test_a_tenants_page_reads_one_page_of_candidates_unless_rows_fail_a_check(
    index: CallIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant's restriction on ledger queries is checked on rows, but only the explorer's operator has rows that
    fail it (other firms' queries it recorded): a page reads ``limit`` candidates, and more only when some fail.
    A time window, also checked on rows, reads twice as many at a time."""
    events = with_ledger_queries(4000)
    load(index, events, [1000])
    fetched: list[int] = []
    fetch = CallIndex._fetch

    def counting(conn: Any, ids: list[int], columns: str, descending: bool) -> list[tuple[Any, ...]]:
        fetched.append(len(ids))
        return fetch(conn, ids, columns, descending)

    monkeypatch.setattr(CallIndex, "_fetch", staticmethod(counting))
    for f, reads in (
        (CallFilter(party="huaxin-bank"), [50]),
        (CallFilter(party="huaxin-bank", from_ms=BASE_MS), [100]),
        (CallFilter(party=OPERATOR), None),  # other firms' queries fail: read again until the page is full
    ):
        fetched.clear()
        rows = index.search(f, before=None, limit=50)
        want = [i for i in range(len(events) - 1, -1, -1) if matches(events[i], f)][:50]
        assert [r["index"] for r in rows] == want and len(want) == 50
        if reads is not None:
            assert fetched == reads
        else:
            assert len(fetched) > 1 and fetched[0] == 50


def test_the_operator_counts_no_other_firms_ledger_queries(index: CallIndex) -> None:
    events = with_ledger_queries(4000)
    load(index, events, [1000])
    assert BASE_MS % 60_000 == 40_000
    for party in (OPERATOR, "huaxin-bank"):
        for since in (BASE_MS - 60_000, BASE_MS + 12_345, BASE_MS + 60_000):
            want: Counter[tuple[int, str]] = Counter()
            for ev in events:
                if ev["time_ms"] >= since and matches(ev, CallFilter(party=party)):
                    want[(ev["time_ms"] // 60_000 * 60_000, ev["center"])] += 1
            got = index.per_minute(since, party)
            assert {(g["minute_ms"], g["center"]): g["calls"] for g in got} == want
    theirs = [ev for ev in events if is_ledger_query(ev) and ev["caller_org"] != OPERATOR]
    assert theirs  # the operator's explorer recorded other firms' queries...
    for start, end in ((BASE_MS - 10**6, BASE_MS + 10**7), (BASE_MS + 1234, BASE_MS + 130_017)):
        report = index.report(OPERATOR, start, end)
        chosen = [ev for ev in events if start <= ev["time_ms"] < end]
        served = [ev for ev in chosen if ev["provider_org"] == OPERATOR and matches(ev, CallFilter(party=OPERATOR))]
        made = [ev for ev in chosen if ev["caller_org"] == OPERATOR]
        assert (report["served"]["calls"], report["made"]["calls"]) == (len(served), len(made))
        # ...but its report serves none of them, and names no firm as a counterpart for them alone
        by_api = Counter((ev["center"], ev["api"], ev["decision"]) for ev in served)
        assert {(r["center"], r["api"], r["decision"]): r["calls"] for r in report["served"]["by_api"]} == by_api
        assert not any(ev in served for ev in theirs)
        counterparts = {ev["caller_org"] for ev in served} | {ev["provider_org"] for ev in made}
        assert {c["org"] for c in report["counterparts"]} == counterparts
        querying = index.report("huaxin-bank", start, end)
        mine = [ev for ev in chosen if is_ledger_query(ev) and ev["caller_org"] == "huaxin-bank"]
        counted = sum(r["calls"] for r in querying["made"]["by_api"] if r["center"] == LEDGER_QUERY_CENTER)
        assert counted == len(mine) > 0  # the querying firm's own record


def test_subject_queries_page_through_the_queries_naming_a_firm_newest_first(index: CallIndex) -> None:
    """``subject_queries``: the allowed ledger queries of the given callers that name a firm as subject, by leaf
    index descending, in keyset pages below ``before``, exactly those (not a refused query, not another caller's,
    not one naming only another firm), with a time range; appended in two batches across chunks."""
    firm, other, regulator = "huaxin-bank", "ruida-data", "csrc"
    events = varied_events(1200)
    wanted: list[int] = []
    for i in range(0, 1200, 3):
        subject = (firm, f"{firm},{other}", other, firm)[i % 4]
        caller = regulator if i % 5 else other  # every fifth by a firm, not the regulator
        refused = i % 7 == 0
        events[i].update(
            caller_org=caller, provider_org=OPERATOR, center=LEDGER_QUERY_CENTER, unit=LEDGER_QUERY_CENTER,
            api="grants.get", gateway_id=f"{OPERATOR}/{LEDGER_QUERY_CENTER}", grant_id=None, asset_id=None,
            asset_version=None,
            **({"decision": "deny", "denial_reason": "not_found", "status": 404, "response_digest": None} if refused
               else {"decision": "allow", "denial_reason": None, "status": 200, "response_digest": f"{i:064x}",
                     "subject": subject}),
        )  # fmt: skip
        if caller == regulator and not refused and firm in subject.split(","):
            wanted.append(i)
    load(index, events, [700])
    wanted.reverse()
    assert len(wanted) > 100
    for page in (1, 7, 50, 1000):
        seen: list[int] = []
        before = None
        while True:
            got = index.subject_queries({regulator}, firm, before=before, limit=page)
            assert len(got) <= page and got == sorted(got, reverse=True)
            seen += got
            if len(got) < page:
                break
            before = got[-1]
        assert seen == wanted, page
    assert index.subject_queries({regulator, other}, firm, before=None, limit=2000) == sorted(
        [i for i in range(0, 1200, 3) if i % 7 and (i % 4) in (0, 1, 3)], reverse=True
    )
    start, end = events[300]["time_ms"], events[900]["time_ms"]
    timed = index.subject_queries({regulator}, firm, before=None, limit=2000, from_ms=start, to_ms=end)
    assert timed == [i for i in wanted if start <= events[i]["time_ms"] < end] and timed
    assert index.subject_queries({regulator}, "nobody", before=None, limit=10) == []
    assert index.subject_queries(set(), firm, before=None, limit=10) == []
    assert index.subject_queries({"no-such-org"}, firm, before=None, limit=10) == []
    assert index.subject_queries({regulator}, firm, before=None, limit=0) == []


# -- checkpoints, gaps, read-only, threads ---------------------------------------------------------------------


def checkpoint(size: int, anchor: AnchorJSON | None = None) -> CheckpointJSON:
    root = base64.b64encode(hashlib.sha256(str(size).encode()).digest()).decode()
    return {
        "size": size,
        "root": root,
        "time_ms": BASE_MS + size,
        "published_ms": BASE_MS + size + 5,
        "cosigners": ["alpha", "reg"],
        "note": f"test/audit-log\n{size}\n{root}\n\n— test/audit-log AAAA\n",
        "anchor": anchor,
    }


def confirmed(size: int, block: int) -> AnchorJSON:
    """The anchor of the checkpoint of ``size``, confirmed in ``block``."""
    return AnchorJSON(
        size=size, tx_hash="0x" + "ab" * 32, nonce=0, state="confirmed", sent_ms=BASE_MS, block_number=block,
        block_hash="0x" + "cd" * 32, confirmed_ms=BASE_MS + 1,
    )  # fmt: skip


def test_checkpoints_upsert_by_size_and_answer_by_index(index: CallIndex) -> None:
    assert index.latest_checkpoint() is None and index.checkpoint_covering(0) is None
    index.put_checkpoints([checkpoint(s) for s in (10, 300, 20)])
    index.put_checkpoints([checkpoint(300, confirmed(300, 7))])
    assert index.latest_checkpoint() == checkpoint(300, confirmed(300, 7))
    assert index.checkpoint_covering(0) == checkpoint(10)
    assert index.checkpoint_covering(9) == checkpoint(10)
    assert index.checkpoint_covering(10) == checkpoint(20)
    assert index.checkpoint_covering(299)["size"] == 300  # type: ignore[index]
    assert index.checkpoint_covering(300) is None
    assert [c["size"] for c in index.checkpoints(before=None, limit=2)] == [300, 20]
    assert [c["size"] for c in index.checkpoints(before=20, limit=5)] == [10]


def test_gaps_are_replaced_as_a_whole(index: CallIndex) -> None:
    first = [{"gateway": "shuzhi-tech/gw-1", "first": 3, "last": 4, "found_ms": BASE_MS}]
    index.put_gaps(first)
    assert index.gaps() == first
    second = [{"gateway": "huaxin-bank/gw-2", "first": 10, "last": 10, "found_ms": BASE_MS + 1}, *first]
    index.put_gaps(second)
    assert index.gaps() == second
    index.put_gaps([])
    assert index.gaps() == []


def test_a_read_only_index_reads_what_the_writer_commits(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CallIndex(tmp_path / "missing.db", readonly=True)
    writer = CallIndex(tmp_path / "calls.db")
    reader = CallIndex(tmp_path / "calls.db", readonly=True)
    events = varied_events(700)
    load(writer, events[:600])
    assert reader.size() == 600
    writer.add_entries(600, [canonical_entry(e) for e in events[600:]])
    new_caller = reader.search(CallFilter(caller=events[699]["caller_org"]), before=None, limit=1)
    assert new_caller[0]["index"] == 699
    assert parse_entry(reader.by_event_id("ev-650")["entry"]) == events[650]  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        reader.add_entries(700, [])
    reader.close()
    writer.close()


def test_readers_in_threads_see_consistent_results_while_the_writer_appends(index: CallIndex) -> None:
    events = varied_events(3000)
    entries = [canonical_entry(e) for e in events]
    index.add_entries(0, entries[:500])
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        f = CallFilter(party="ruida-data", decision="deny")
        while not done.is_set():
            rows = index.search(f, before=None, limit=20)
            size = index.size()
            if any(not matches(events[r["index"]], f) or r["index"] >= size for r in rows):
                failures.append(f"bad rows {[r['index'] for r in rows]}")
            want = [i for i in range(rows[0]["index"], -1, -1) if matches(events[i], f)][:20] if rows else []
            if [r["index"] for r in rows] != want:
                failures.append(f"not the newest calls: {[r['index'] for r in rows]} != {want}")

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    bulk_load(index, entries[500:], batch=97)
    done.set()
    for t in threads:
        t.join()
    assert failures == []
    assert index.size() == 3000


def test_bulk_load_equals_add_entries_and_keeps_the_batches_before_a_failure(tmp_path: Path) -> None:
    events = varied_events(1500)
    for i in range(0, 1500, 97):  # names first seen in one batch and used again in the next ones
        events[i] = {**events[i], "caller_org": f"new-{i // 300}", "grant_id": f"0x{i:064x}"}
    entries = [canonical_entry(e) for e in events]
    one, bulk = CallIndex(tmp_path / "one.db"), CallIndex(tmp_path / "bulk.db")
    load(one, events)
    assert bulk_load(bulk, entries[:5], batch=2) == 5
    assert bulk_load(bulk, entries[5:], batch=61) == 1495
    everything = CallFilter()
    assert bulk.search(everything, before=None, limit=2000) == one.search(everything, before=None, limit=2000)
    for f in (CallFilter(caller="new-2"), CallFilter(party="new-4"), CallFilter(grant=f"0x{97 * 5:064x}")):
        want = [i for i in range(1499, -1, -1) if matches(events[i], f)]
        assert want and search_all(bulk, f, 10) == want
    assert bulk.root() == one.root()

    broken = CallIndex(tmp_path / "broken.db")
    with pytest.raises(MalformedError, match="entry 250 is not an event"):
        bulk_load(broken, [*entries[:250], b"{}", *entries[251:]], batch=100)
    assert broken.size() == 200  # the batches before the bad one
    assert broken.root() == root_of([hash_leaf(e) for e in entries[:200]])
    for index in (one, bulk, broken):
        index.close()
