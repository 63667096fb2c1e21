"""The witness keys a verifier counts for a checkpoint (``network.logsetup.chain_witness_keys``, the notary's own
selection, which ``network.witnesskeys`` makes at the checkpoint's block for ``verify evidence``, ``verify log``,
the explorer and the SDK): a rotated key, a retired key, a key declared compromised, a suspended member, a key
valid only from a later block; and the cosignatures of a checkpoint counted under them (``notary.verify``), a
retired key's cosignature counting for nobody. From snapshots as the chain's reader builds them; no chain, no
socket."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import MemberStatus, OrgId, Role
from chain.trustview import TrustSnapshot
from network.logsetup import chain_witness_keys
from network.witnesskeys import CheckpointWitnesses, claimed_checkpoint_size
from notary.checkpointer import WitnessPolicy
from notary.log.cosignature import CosignatureSigner
from notary.log.errors import VerificationError
from notary.log.note import NoteSigner, add_signatures, parse_note, sign_note
from notary.logkeys import LogKeyError, LogKeys
from notary.logsuite import INTL, WitnessVerifier, public_bytes
from notary.verify import check_cosignatures, cosigning_witnesses

ACTIVE, SUSPENDED, REMOVED = MemberStatus.ACTIVE, MemberStatus.SUSPENDED, MemberStatus.REMOVED
POLICY = WitnessPolicy(2, ("reg", "alpha", "beta"), True, frozenset({"reg"}))
FOUNDERS = frozenset({"reg", "alpha", "beta"})
ROLES = {"newco": Role.MEMBER | Role.WITNESS, "plain": Role.MEMBER}
ORIGIN = "t/audit-log"


def key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def public(seed: int) -> bytes:
    return public_bytes(key(seed))


def rec(
    org: str,
    index: int,
    value: bytes,
    valid_from: int = 0,
    valid_until: int | None = None,
    state: KeyState | None = None,
) -> KeyRecord:
    ended = KeyState.OPEN if valid_until is None else KeyState.RETIRED
    return KeyRecord(OrgId(org), index, KeyKind.WITNESS_KEY, value, valid_from, valid_until, state or ended, 0, None)


def founders() -> dict[str, tuple[KeyRecord, ...]]:
    return {
        "reg": (rec("reg", 0, public(1)),),
        "alpha": (rec("alpha", 0, public(2)),),
        "beta": (rec("beta", 0, public(3)),),
    }


def keys_at(
    records: Mapping[str, tuple[KeyRecord, ...]], block: int, statuses: Mapping[str, int] | None = None
) -> tuple[dict[str, list[bytes]], WitnessPolicy]:
    """The selection at ``block``, the records read at a later head (as a verifier reads them)."""
    snapshot = TrustSnapshot.of(1000, 1, records, statuses)
    keys, policy = chain_witness_keys(snapshot, block, POLICY, FOUNDERS, lambda org: ROLES.get(org, Role(0)))
    assert (policy.threshold, policy.require_regulator) == (2, True)  # never the chain's to change
    assert set(keys) == set(policy.witnesses)
    return keys, policy


def test_the_genesis_keys_count_as_consortium_json_lists_them() -> None:
    keys, policy = keys_at(founders(), 5)
    assert keys == {"reg": [public(1)], "alpha": [public(2)], "beta": [public(3)]}
    assert policy == POLICY


def test_a_rotated_key_counts_from_its_first_block_and_the_old_one_until_its_end() -> None:
    records = founders()
    records["alpha"] = (rec("alpha", 0, public(2), valid_until=20), rec("alpha", 1, public(12), valid_from=15))
    assert keys_at(records, 14)[0]["alpha"] == [public(2)]  # the new key is not valid yet
    assert keys_at(records, 15)[0]["alpha"] == [public(2), public(12)]  # the overlap: both
    assert keys_at(records, 19)[0]["alpha"] == [public(2), public(12)]
    assert keys_at(records, 20)[0]["alpha"] == [public(12)]  # the old key's end: the new one only


def test_a_retired_key_stops_counting_and_its_org_drops_out_of_the_set() -> None:
    records = founders()
    records["beta"] = (rec("beta", 0, public(3), valid_until=30),)
    keys, policy = keys_at(records, 29)
    assert keys["beta"] == [public(3)] and "beta" in policy.witnesses
    keys, policy = keys_at(records, 30)
    assert "beta" not in keys and policy.witnesses == ("reg", "alpha")


def test_a_key_declared_compromised_as_of_a_block_counts_before_it_only() -> None:
    records = founders()
    records["alpha"] = (rec("alpha", 0, public(2), valid_until=40, state=KeyState.COMPROMISED),)
    assert keys_at(records, 39)[0]["alpha"] == [public(2)]
    assert "alpha" not in keys_at(records, 40)[0]


def test_a_suspended_members_witness_counts_for_nothing_and_counts_again_once_reinstated() -> None:
    statuses = {"reg": ACTIVE, "alpha": SUSPENDED, "beta": ACTIVE}
    keys, policy = keys_at(founders(), 5, statuses)
    assert "alpha" not in keys and policy.witnesses == ("reg", "beta")
    assert "alpha" in keys_at(founders(), 5, {**statuses, "alpha": ACTIVE})[0]
    assert "beta" not in keys_at(founders(), 5, {**statuses, "beta": REMOVED})[0]


def test_a_key_valid_from_a_later_block_counts_only_from_it() -> None:
    """A newcomer with the witness role whose key is recorded valid from block 50 (and a member without the
    role, whose key never counts)."""
    records = founders()
    records["newco"] = (rec("newco", 0, public(9), valid_from=50),)
    records["plain"] = (rec("plain", 0, public(8)),)
    statuses = {org: ACTIVE for org in records}
    keys, policy = keys_at(records, 49, statuses)
    assert "newco" not in keys and policy.witnesses == ("reg", "alpha", "beta")
    keys, policy = keys_at(records, 50, statuses)
    assert keys["newco"] == [public(9)] and policy.witnesses == ("reg", "alpha", "beta", "newco")
    assert "plain" not in keys
    # a member not yet admitted at the block (no status then) is not counted, whatever its records say
    assert "newco" not in keys_at(records, 50, {o: s for o, s in statuses.items() if o != "newco"})[0]


def _note(signers: Mapping[str, list[int]]) -> bytes:
    """A checkpoint signed by the log key and cosigned by each org with each of its key seeds."""
    text = f"{ORIGIN}\n7\n{'A' * 43}=\n"
    log = NoteSigner(ORIGIN, key(99))
    note = sign_note(text, [log])
    cosignatures = [
        CosignatureSigner(f"t/witness/{org}", key(seed)).cosign(text, 1_700_000_000)
        for org, seeds in signers.items()
        for seed in seeds
    ]
    return add_signatures(note, cosignatures)


def _counted(chosen: CheckpointWitnesses) -> dict[str, tuple[WitnessVerifier, ...]]:
    return {
        org: tuple(INTL.cosignature_verifier(f"t/witness/{org}", k) for k in keys) for org, keys in chosen.keys.items()
    }


def test_cosignatures_count_under_the_keys_valid_at_the_block_and_a_retired_keys_for_nobody() -> None:
    """alpha rotates (old key retired at block 20, new one valid from 15): a checkpoint cosigned by reg and by
    alpha's old key meets the policy at block 10, not at block 25 (the old key's cosignature counts for nobody);
    one cosigned under alpha's new key meets it at 25."""
    records = founders()
    records["alpha"] = (rec("alpha", 0, public(2), valid_until=20), rec("alpha", 1, public(12), valid_from=15))

    def chosen(block: int) -> CheckpointWitnesses:
        keys, policy = keys_at(records, block)
        return CheckpointWitnesses({o: tuple(k) for o, k in keys.items()}, policy, block, anchored=True)

    old = parse_note(_note({"reg": [1], "alpha": [2]}))
    new = parse_note(_note({"reg": [1], "alpha": [12]}))
    before, after = chosen(10), chosen(25)
    assert check_cosignatures(old, _counted(before), before.policy).startswith("cosigned by alpha, reg")
    assert cosigning_witnesses(old, _counted(after)) == ({"reg"}, set())
    try:
        check_cosignatures(old, _counted(after), after.policy)
    except VerificationError as exc:
        assert "cosigned by reg: the policy needs 2 of 3 witnesses including a regulator" in str(exc)
    else:
        raise AssertionError("a retired key's cosignature was counted")
    assert check_cosignatures(new, _counted(after), after.policy).startswith("cosigned by alpha, reg")
    overlap = chosen(17)  # both keys valid: either cosignature counts, alpha once
    assert cosigning_witnesses(parse_note(_note({"reg": [1], "alpha": [2, 12]})), _counted(overlap))[0] == {
        "reg",
        "alpha",
    }
    assert after.describe() == ("witness keys valid on chain at block 25 (the anchor's block), of members active then")
    assert "the head: the checkpoint is not anchored" in CheckpointWitnesses({}, POLICY, 30).describe()


def test_the_size_a_bundle_claims() -> None:
    assert claimed_checkpoint_size({"checkpoint": {"size": 12, "note": ""}}) == 12
    assert claimed_checkpoint_size({"checkpoint": None}) is None
    assert claimed_checkpoint_size({"checkpoint": {"size": True}}) is None
    assert claimed_checkpoint_size({"checkpoint": {"size": -1}}) is None
    assert claimed_checkpoint_size([]) is None


def test_the_log_keys_are_judged_at_the_block_the_witness_keys_are_chosen_at() -> None:
    """The one lookup: the log keys of a ``CheckpointWitnesses`` are judged at its block (the anchor's), the key a
    checkpoint names refused when it is not valid there, and the offline fallback says it trusts the file's log key
    too."""
    old, new = key(40), key(41)
    records = (
        KeyRecord(OrgId("op"), 0, KeyKind.LOG_KEY, public_bytes(old), 0, 20, KeyState.RETIRED, 0, None),
        KeyRecord(OrgId("op"), 1, KeyKind.LOG_KEY, public_bytes(new), 15, None, KeyState.OPEN, 0, None),
    )
    log_keys = LogKeys.from_records(ORIGIN, INTL, records, 1000).at(25, anchored=True)
    chosen = CheckpointWitnesses({}, POLICY, 25, True, log_keys)
    assert chosen.describe_log_key() == "log key valid on chain at block 25 (the anchor's block)"
    assert chosen.to_json()["log_key"] == "chain"
    text = "t/audit-log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    by_new = sign_note(text, [INTL.note_signer(ORIGIN, new)])
    by_old = sign_note(text, [INTL.note_signer(ORIGIN, old)])
    assert chosen.log_keys is not None and chosen.log_keys.for_checkpoint(by_new, None).index == 1
    with pytest.raises(LogKeyError, match="not valid at its anchor's block 25"):
        chosen.log_keys.for_checkpoint(by_old, None)  # retired at 20, before the anchor's block
    assert chosen.log_keys.at(18, anchored=True).for_checkpoint(by_old, None).index == 0  # within the overlap
    offline = CheckpointWitnesses({}, POLICY, None)
    assert offline.to_json()["log_key"] == "consortium.json"
    assert offline.describe_log_key().startswith("log key of consortium.json, trusted because the file says so")
