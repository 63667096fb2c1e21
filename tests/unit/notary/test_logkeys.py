"""notary.logkeys: which log key a checkpoint or a receipt must be signed by once the log's key rotated, and the
refusals; real keys of both suites, real signed notes, records as the TrustDirectory holds them."""

from __future__ import annotations

import base64

import pytest

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import OrgId
from notary.errors import NotaryError
from notary.log.note import Note, NoteSignature, open_note, parse_note, sign_note
from notary.logkeys import LogKeyError, LogKeys, RotatingSigner
from notary.logsuite import INTL, SM, LogSuite, PrivateKey, public_bytes
from tests.support.notary_world import each_suite, new_key

ORIGIN = "test-consortium/audit-log"
TEXT = f"{ORIGIN}\n5\n{base64.b64encode(bytes(32)).decode()}\n"


def record(
    index: int, key: PrivateKey, valid_from: int, until: int | None = None, state: KeyState = KeyState.OPEN
) -> KeyRecord:
    value = public_bytes(key)
    return KeyRecord(OrgId("op"), index, KeyKind.LOG_KEY, value, valid_from, until, state, valid_from, None)


class Keys:
    """A retired at 20 (valid from 0), B valid from 10, C compromised as of 8 (valid from 5), D never on chain."""

    def __init__(self, suite: LogSuite, head: int = 30) -> None:
        self.suite = suite
        self.a, self.b, self.c, self.d = (new_key(suite) for _ in range(4))
        records = [
            record(0, self.a, 0, 20, KeyState.RETIRED),
            record(1, self.b, 10),
            record(2, self.c, 5, 8, KeyState.COMPROMISED),
            KeyRecord(OrgId("op"), 3, KeyKind.GATEWAY_KEY, public_bytes(self.d), 0, None, KeyState.OPEN, 0, None),
        ]
        self.keys = LogKeys.from_records(ORIGIN, suite, records, head)

    def note(self, key: PrivateKey) -> bytes:
        return sign_note(TEXT, [self.suite.note_signer(ORIGIN, key)])


@each_suite
def test_a_new_key_has_a_new_key_id_under_the_same_name_and_notes_name_it(suite: LogSuite) -> None:
    k = Keys(suite)
    assert len(k.keys.keys) == 3  # the gateway key is no log key
    ids = {key.key_id for key in k.keys.keys}
    assert len(ids) == 3
    assert {key.verifier.name for key in k.keys.keys} == {ORIGIN}
    assert k.keys.signer_of(k.note(k.b)).key_id == k.suite.note_verifier(ORIGIN, public_bytes(k.b)).key_id


@each_suite
def test_a_checkpoint_counts_under_the_key_valid_at_its_anchor_block(suite: LogSuite) -> None:
    k = Keys(suite, head=30)
    old, new = k.note(k.a), k.note(k.b)
    for block in (0, 10, 19):  # the old key before its retirement, the overlap included
        verifier = k.keys.for_checkpoint(old, block).verifier
        open_note(old, [verifier])
    for block in (10, 19, 20, 29):
        open_note(new, [k.keys.for_checkpoint(new, block).verifier])
    with pytest.raises(LogKeyError, match="not valid at its anchor's block 20"):
        k.keys.for_checkpoint(old, 20)  # signed by the retired key, anchored at its retirement
    with pytest.raises(LogKeyError, match="not valid at its anchor's block 9"):
        k.keys.for_checkpoint(new, 9)  # the new key before it is valid
    with pytest.raises(LogKeyError, match="not valid at the chain head 30"):
        k.keys.for_checkpoint(old, None)  # not anchored: judged at the head, past its retirement
    assert k.keys.for_checkpoint(new, None).index == 1


@each_suite
def test_a_key_not_on_chain_or_compromised_counts_for_nothing(suite: LogSuite) -> None:
    k = Keys(suite)
    stranger = k.note(k.d)
    for anchored in (None, 0, 15):
        with pytest.raises(LogKeyError, match="signed by no log key of test-consortium/audit-log on chain"):
            k.keys.for_checkpoint(stranger, anchored)
        with pytest.raises(LogKeyError, match="no log key"):
            k.keys.for_receipt(stranger, anchored)
    leaked = k.note(k.c)
    assert k.keys.for_checkpoint(leaked, 7).index == 2
    with pytest.raises(LogKeyError, match="declared compromised"):
        k.keys.for_checkpoint(leaked, 8)
    # a note signed under another name with a log key's id is no signature of the log
    with pytest.raises(LogKeyError):
        k.keys.signer_of(sign_note(TEXT, [suite.note_signer("another/audit-log", k.b)]))
    # the key a line names must also have made its signature: B's signature under A's key id is refused
    a_sig = parse_note(k.note(k.a)).signatures[0]
    b_sig = parse_note(k.note(k.b)).signatures[0]
    forged = Note(TEXT, (NoteSignature(ORIGIN, a_sig.key_id, b_sig.signature),)).to_bytes()
    verifier = k.keys.for_checkpoint(forged, 5).verifier  # it names A, valid at 5
    with pytest.raises(NotaryError, match="does not verify"):
        open_note(forged, [verifier])


@each_suite
def test_a_receipt_counts_under_a_key_valid_up_to_the_anchor_retired_since_or_not(suite: LogSuite) -> None:
    k = Keys(suite)
    assert k.keys.for_receipt(k.note(k.a), 25).index == 0  # retired at 20: a receipt precedes its checkpoint
    with pytest.raises(LogKeyError, match="not yet valid at block 9"):
        k.keys.for_receipt(k.note(k.b), 9)
    assert k.keys.for_receipt(k.note(k.c), 7).index == 2
    with pytest.raises(LogKeyError, match="compromised as of block 8"):
        k.keys.for_receipt(k.note(k.c), 8)


@each_suite
def test_the_keys_valid_now_are_what_a_witness_trusts(suite: LogSuite) -> None:
    k = Keys(suite, head=15)
    assert {v.key_id for v in k.keys.valid()} == {k.keys.keys[0].key_id, k.keys.keys[1].key_id}  # the overlap
    assert {v.key_id for v in k.keys.valid(25)} == {k.keys.keys[1].key_id}


def test_a_record_of_the_other_suite_is_no_key_of_the_log() -> None:
    sm_key = new_key(SM)
    keys = LogKeys.from_records(ORIGIN, INTL, [record(0, sm_key, 0)], 3)
    assert keys.keys == ()


def test_the_rotating_signer_signs_with_the_key_current_at_each_signature() -> None:
    first, second = new_key(INTL), new_key(INTL)
    signer = RotatingSigner(INTL.note_signer(ORIGIN, first))
    before = signer.key_id
    a = sign_note(TEXT, [signer])
    signer.rotate(INTL.note_signer(ORIGIN, second))
    b = sign_note(TEXT, [signer])
    assert signer.key_id != before and signer.public_key == public_bytes(second)
    open_note(a, [INTL.note_verifier(ORIGIN, public_bytes(first))])
    open_note(b, [INTL.note_verifier(ORIGIN, public_bytes(second))])
    with pytest.raises(NotaryError):
        open_note(b, [INTL.note_verifier(ORIGIN, public_bytes(first))])
    with pytest.raises(NotaryError, match="named by the log's origin"):
        signer.rotate(INTL.note_signer("another/audit-log", first))
