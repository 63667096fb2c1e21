"""What follows a rotated gateway key besides the gateway (``docs/trust.md``, "Rotating a gateway key"), against the
in-process chain node: the explorer's query-audit recorder, its signed reads of the notary and the alarm records
`consortium up` ships switch to the operator's new key once it is valid on chain, and the SDK's signed reads to the
key file's new key (falling back to the old one while the notary refuses it), so their batches and reads are
accepted after the old key retired;
shred statements are judged by the org's gateway keys on chain valid at the statement's time."""

from __future__ import annotations

import dataclasses
import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.contracts import KeyKind
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from cli.up import alarm_evaluator
from explorer.audit import AuditRecorder
from explorer.service import ExplorerOptions, build, stop
from network.alarms.audit import AlarmRecorder
from network.alarms.book import Alarm, Transition
from network.alarms.webhook import alarm_document
from network.description import ConsortiumDescription
from network.gatewaykeys import following_gateway_key, rotate_gateway_key
from network.identity import OrgPaths, issue_identity, load_gateway_key, load_previous_gateway_key
from network.shredding import ShredBook, load_statements, publish, statement_path
from network.supervisor import Child
from network.trust import GatewayKeySource
from notary.api.app import create_app
from notary.checkpointer import WitnessPolicy
from notary.logsuite import PrivateKey, public_bytes
from notary.readauth import ReadAccess, SignedReads
from notary.service import NotaryService, NotarySettings
from notary.submit.vault import SaltVault, Tombstone
from notary.tracecontext import new_traceparent
from sdk.client import MemberClient
from tests.integration.network.test_gateway_key_rotation import ORG, ORIGIN, PASS, description_of, mine_to
from tests.support.apiserver import ApiServer
from tests.support.consortium import Consortium

DRAIN_S = 30.0
EXPLORER = f"{ORG}/explorer"

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


class Notary:
    """The notary's batch acceptance and reads over HTTP, the org's gateway keys those valid on chain at the head
    its view read (batches: the sequencer's source; reads: ``ReadAccess.follow_gateway_keys``)."""

    def __init__(self, directory: Path, view: TrustView, fallback: bytes) -> None:
        source = GatewayKeySource(view, {ORG: fallback})
        reads = ReadAccess({ORG: fallback}, {}, (), (EXPLORER,))
        reads.follow_gateway_keys(source)
        self.service = NotaryService(
            NotarySettings(
                directory=directory,
                origin=ORIGIN,
                log_key=Ed25519PrivateKey.generate(),
                gateway_keys=source,
                witnesses=[],
                policy=WitnessPolicy(0, (), False, frozenset()),
            )
        )
        self.server = ApiServer(create_app(self.service, reads))
        self.url = self.server.url

    def close(self) -> None:
        self.server.stop()
        self.service.stop()


@pytest.fixture
def closing() -> Iterator[list[AuditRecorder | AlarmRecorder | Notary | MemberClient]]:
    opened: list[AuditRecorder | AlarmRecorder | Notary | MemberClient] = []
    yield opened
    for thing in reversed(opened):
        thing.close()


def query(recorder: AuditRecorder, n: int) -> None:
    """A person's query answered, its event committed to the recorder's outbox."""
    q = recorder.begin("op", "ab" * 32, "calls.search", "GET", "/api/calls", f"/api/calls?page={n}", new_traceparent())
    recorder.outbox.append(recorder.event(q, 200, "cd" * 32)).result(timeout=DRAIN_S)


def alarm(recorder: AlarmRecorder, n: int) -> None:
    """An alarm fired, its record committed to the alarm recorder's outbox."""
    now = time.time()
    fired = Transition("fired", Alarm(f"notary-down:n{n}", "notary-down", "critical", f"n{n}", None, "down", now), now)
    assert recorder.record(fired, alarm_document("rot", fired)) is not None
    deadline = time.monotonic() + DRAIN_S
    while recorder.recorded < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.recorded == n


def read(notary: Notary, auth: SignedReads) -> int:
    return httpx.get(f"{notary.url}/v1/events", auth=auth, timeout=30).status_code


def test_the_explorer_follows_the_operators_rotated_key(
    consortium: Consortium, tmp_path: Path, closing: list[AuditRecorder | AlarmRecorder | Notary | MemberClient]
) -> None:
    c = consortium
    op = c.signers[ORG]
    description = description_of(c, tmp_path)
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    old = public_bytes(old_key)
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, old)
    notary_view, explorer_view = TrustView(c.backend, c.trust.address), TrustView(c.backend, c.trust.address)
    notary_view.refresh()
    explorer_view.refresh()
    notary = Notary(tmp_path / "notary", notary_view, old)
    closing.append(notary)

    # the explorer as `explorer.service.build` makes it: the key of the start, the key file followed on chain
    recorder = AuditRecorder(
        tmp_path / "explorer" / "audit.outbox.db",
        ORG,
        notary.url,
        old_key,
        PASS,
        next_key=following_gateway_key(explorer_view, tmp_path, ORG, PASS, "intl"),
    )
    recorder.shipper.gather_s, recorder.shipper.backoff_max_s = 0.01, 0.5
    closing.append(recorder)
    reads = SignedReads(EXPLORER, old_key, next_key=following_gateway_key(explorer_view, tmp_path, ORG, PASS, "intl"))
    # the alarm records as `up` makes them (`cli.up.alarm_evaluator`): the same key file, followed by its own view
    alarms = AlarmRecorder(
        tmp_path / "alarms" / "audit.outbox.db",
        ORG,
        notary.url,
        old_key,
        SaltVault.open(tmp_path / "alarms" / "vault", ORG, PASS),
        backoff_max_s=0.5,
        next_key=following_gateway_key(explorer_view, tmp_path, ORG, PASS, "intl"),
    )
    alarms.shipper.gather_s = 0.01
    closing.append(alarms)
    recorder.start()
    alarms.start()
    query(recorder, 0)
    alarm(alarms, 1)
    assert recorder.shipper.drain(DRAIN_S) and alarms.shipper.drain(DRAIN_S)
    assert read(notary, reads) == 200

    # the SDK's reads (`MemberClient.from_directory`): the key file read again, no view of the chain
    description.write(tmp_path)
    issue_identity(tmp_path, OrgId(ORG), "client", PASS)
    client = MemberClient.from_directory(tmp_path, ORG, name="client", passphrase=PASS, notary_url=notary.url)
    closing.append(client)
    sdk = client.notary_auth
    assert isinstance(sdk, SignedReads) and sdk.reader == f"{ORG}/sdk"
    assert read(notary, sdk) == 200

    rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, overlap_blocks=3)
    new = public_bytes(load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl"))
    assert rotation.new_public == new
    # the SDK takes the new key from the file at once; the notary refuses it, the read goes again under the old
    assert read(notary, sdk) == 200
    assert public_bytes(sdk.key) == new

    # the explorer sees the new key valid before the notary does: its read under the new key is refused and
    # signed again with the old one, still valid
    mine_to(c, rotation.valid_from, explorer_view)
    assert notary_view.head < rotation.valid_from
    assert read(notary, reads) == 200
    assert public_bytes(reads.key) == new

    # after the old key's retirement, both views there: the recorder's batches and the reads are accepted
    mine_to(c, rotation.old_valid_until, notary_view, explorer_view)
    assert notary_view.gateway_keys(ORG) == [new]
    for n in range(1, 4):
        query(recorder, n)
    alarm(alarms, 2)
    assert recorder.shipper.drain(DRAIN_S) and alarms.shipper.drain(DRAIN_S)
    status = recorder.status()
    assert status["key"] == new.hex() and status["pending"] == 0 and status["shipped_total"] == 4
    assert (status["refused"], status["last_error"]) == (False, None)
    shipped = alarms.shipper.status()
    assert (shipped["key"], shipped["shipped_total"], shipped["refused"]) == (new.hex(), 2, False)
    assert read(notary, reads) == 200
    assert read(notary, sdk) == 200
    assert read(notary, SignedReads(EXPLORER, old_key)) == 401  # what the explorer of the start would now get
    assert notary.service.store.size() == 6


def test_an_sdk_client_made_before_the_new_keys_block_reads_with_the_key_kept(
    consortium: Consortium,
    tmp_path: Path,
    closing: list[AuditRecorder | AlarmRecorder | Notary | MemberClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The rotation keeps the key before (``keys/gateway.previous.pem``, 0600) until it retires: an SDK client made
    between the rotation and the new key's first block starts from it and reads; from that block it signs with the
    new key; once the old key retired, the first follower of the key file removes the kept one."""
    c = consortium
    op = c.signers[ORG]
    description = description_of(c, tmp_path)
    description.write(tmp_path)
    issue_identity(tmp_path, OrgId(ORG), "client", PASS)
    paths = OrgPaths.of(tmp_path, OrgId(ORG))
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    old = public_bytes(old_key)
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, old)
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    notary = Notary(tmp_path / "notary", view, old)
    closing.append(notary)

    def client() -> SignedReads:
        made = MemberClient.from_directory(tmp_path, ORG, name="client", passphrase=PASS, notary_url=notary.url)
        closing.append(made)
        assert isinstance(made.notary_auth, SignedReads)
        return made.notary_auth

    head = int(c.backend.web3.eth.block_number)
    rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, from_block=head + 3, overlap_blocks=3)
    new_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    new = public_bytes(new_key)
    kept = paths.gateway_key_previous
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    previous = load_previous_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    assert previous is not None and public_bytes(previous) == old

    # made in the window: the notary holds only the old key valid, which the client starts from
    view.refresh()
    assert view.head < rotation.valid_from
    assert read(notary, SignedReads(f"{ORG}/sdk", new_key)) == 401  # what the new key alone would get
    sdk = client()
    assert public_bytes(sdk.key) == old
    caplog.set_level(logging.INFO, logger="notary.readauth")
    for _ in range(2):  # the file's key tried, refused, and the read signed again with the key kept
        assert read(notary, sdk) == 200
    assert public_bytes(sdk.key) == new
    fallen_back = sum("signed with the previous one" in r.getMessage() for r in caplog.records)
    assert fallen_back == 2

    # from the new key's block: signed with the new key, taken the first time
    mine_to(c, rotation.valid_from, view)
    assert read(notary, sdk) == 200 and public_bytes(sdk.key) == new
    assert sum("signed with the previous one" in r.getMessage() for r in caplog.records) == fallen_back
    follower = following_gateway_key(view, tmp_path, ORG, PASS, "intl")
    assert follower() is not None and kept.exists()  # the old key is valid still: kept

    # after the old key's retirement: a client made while the file is there signs with the new key first
    mine_to(c, rotation.old_valid_until, view)
    late = client()
    assert read(notary, late) == 200 and public_bytes(late.key) == new
    assert sum("signed with the previous one" in r.getMessage() for r in caplog.records) == fallen_back
    # the first follower to look removes it; a client made then starts from the file's key
    assert follower() is not None and not kept.exists()
    assert load_previous_gateway_key(tmp_path, OrgId(ORG), PASS, "intl") is None
    after = client()
    assert public_bytes(after.key) == new and read(notary, after) == 200
    assert read(notary, SignedReads(f"{ORG}/sdk", old_key)) == 401


def operator_description(c: Consortium, directory: Path) -> ConsortiumDescription:
    """A consortium of one org that operates it, runs its notary and validates its chain."""
    plain = description_of(c, directory)
    (member,) = plain.members
    return dataclasses.replace(
        plain, members=(dataclasses.replace(member, roles=Role.MEMBER | Role.OPERATOR | Role.VALIDATOR | Role.NOTARY),)
    )


def test_ups_alarm_records_follow_the_operators_rotated_key(consortium: Consortium, tmp_path: Path) -> None:
    """The alarm recorder as `consortium up` builds it (``cli.up.alarm_evaluator``, its own view of the chain):
    after the operator's rotation and the old key's retirement, its records are shipped under the new key."""
    c = consortium
    op = c.signers[ORG]
    description = operator_description(c, tmp_path)
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, public_bytes(old_key))
    notary_view = TrustView(c.backend, c.trust.address)
    notary_view.refresh()
    notary = Notary(tmp_path / "notary", notary_view, public_bytes(old_key))
    url = c.backend.url  # type: ignore[attr-defined]
    child = Child("notary", cast(Any, None), notary.url, tmp_path / "notary.log")
    evaluator = alarm_evaluator(tmp_path, description, [], url, [child], None, lambda _: None, PASS)
    recorder = evaluator.recorder
    assert recorder is not None and recorder.follows is not None
    try:
        recorder.start()
        alarm(recorder, 1)
        assert recorder.shipper.drain(DRAIN_S)
        rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, overlap_blocks=2)
        mine_to(c, rotation.old_valid_until, notary_view, recorder.follows)
        alarm(recorder, 2)
        assert recorder.shipper.drain(DRAIN_S)
        shipped = recorder.shipper.status()
        assert (shipped["key"], shipped["shipped_total"], shipped["refused"]) == (rotation.new_public.hex(), 2, False)
    finally:
        evaluator.stop()
        notary.close()


def test_the_explorer_service_follows_the_operators_rotated_key(consortium: Consortium, tmp_path: Path) -> None:
    """The explorer as ``python -m explorer`` builds it (``explorer.service.build``, its own view of the chain):
    after the operator's rotation and the old key's retirement, its audit batches and its reads are accepted."""
    c = consortium
    op = c.signers[ORG]
    description = operator_description(c, tmp_path)
    description.write(tmp_path)
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, public_bytes(old_key))
    notary_view = TrustView(c.backend, c.trust.address)
    notary_view.refresh()
    notary = Notary(tmp_path / "notary", notary_view, public_bytes(old_key))
    url = c.backend.url  # type: ignore[attr-defined]
    explorer = build(ExplorerOptions(tmp_path, notary.url, url, passphrase=PASS, poll=0.1))
    try:
        recorder, reads, view = explorer.recorder, explorer.notary_auth, explorer.trust
        assert recorder is not None and isinstance(reads, SignedReads) and view is not None
        assert explorer.shreds.trust is view  # the calls page's shred statements are judged on chain too
        query(recorder, 0)
        assert recorder.shipper.drain(DRAIN_S)
        rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, overlap_blocks=2)
        mine_to(c, rotation.old_valid_until, notary_view, view)
        query(recorder, 1)
        assert recorder.shipper.drain(DRAIN_S)
        status = recorder.status()
        assert (status["key"], status["shipped_total"], status["refused"]) == (rotation.new_public.hex(), 2, False)
        assert read(notary, reads) == 200 and public_bytes(reads.key) == rotation.new_public
    finally:
        stop(explorer)
        notary.close()


def shred(directory: Path, key: PrivateKey, day: str, shredded_ms: int) -> Path:
    return publish(directory, Tombstone(ORG, day, shredded_ms, f"admin@{ORG}").signed(key))


def test_shred_statements_are_judged_by_the_gateway_keys_on_chain(consortium: Consortium, tmp_path: Path) -> None:
    c = consortium
    op = c.signers[ORG]
    description = description_of(c, tmp_path)
    old_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    c.trust.add_key(op, KeyKind.GATEWAY_KEY, public_bytes(old_key))
    c.advance_time(2)
    before_ms = c.advance_time(2) * 1000  # a time at which only the old key is valid
    view = TrustView(c.backend, c.trust.address)
    rotation = rotate_gateway_key(tmp_path, description, PASS, c.trust, op, ORG, overlap_blocks=3)
    new_key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    mine_to(c, rotation.old_valid_until, view)
    after_ms = c.advance_time(2) * 1000  # a time after the old key's retirement
    view.refresh()
    assert view.block_at_time(after_ms / 1000) == view.head >= rotation.old_valid_until
    assert view.block_at_time(before_ms / 1000) < rotation.valid_from  # type: ignore[operator]

    shred(tmp_path, new_key, "2026-03-01", after_ms)  # after the rotation, by the new key: honoured
    shred(tmp_path, old_key, "2026-03-02", before_ms)  # before it, by the old key: honoured still
    shred(tmp_path, old_key, "2026-03-03", after_ms)  # by the retired key after its retirement: refused
    shred(tmp_path, new_key, "2026-03-04", before_ms)  # by the new key before it was valid: refused
    shred(tmp_path, Ed25519PrivateKey.generate(), "2026-03-05", after_ms)  # by no key of the org: refused

    on_chain = load_statements(tmp_path, description, view)
    assert sorted(day for _, day in on_chain) == ["2026-03-01", "2026-03-02"]
    assert on_chain[(ORG, "2026-03-01")].shredded_ms == after_ms

    # the explorer's book, which the calls page asks: the same verdicts
    book = ShredBook(tmp_path, description, rescan_s=0, trust=view)
    assert [book.lookup(ORG, f"2026-03-0{d}") is not None for d in range(1, 6)] == [True, True, False, False, False]

    # offline (no chain): consortium.json's key, the old one, whatever the time, and the new one not at all
    offline = load_statements(tmp_path, description)
    assert sorted(day for _, day in offline) == ["2026-03-02", "2026-03-03"]
    # a view that has not read the chain yet falls back the same way
    assert set(load_statements(tmp_path, description, TrustView(c.backend, c.trust.address))) == set(offline)
    assert statement_path(tmp_path, ORG, "2026-03-01").is_file()


def test_a_statement_older_than_the_chain_is_refused(consortium: Consortium, tmp_path: Path) -> None:
    c = consortium
    description = description_of(c, tmp_path)
    key = load_gateway_key(tmp_path, OrgId(ORG), PASS, "intl")
    c.trust.add_key(c.signers[ORG], KeyKind.GATEWAY_KEY, public_bytes(key))
    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    genesis_ms = int(c.backend.web3.eth.get_block(0)["timestamp"]) * 1000
    shred(tmp_path, key, "2026-03-06", genesis_ms - 1000)
    shred(tmp_path, key, "2026-03-07", c.advance_time(1) * 1000)
    view.refresh()
    assert sorted(day for _, day in load_statements(tmp_path, description, view)) == ["2026-03-07"]
