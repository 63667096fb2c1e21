"""The notary's witness set followed from the TrustDirectory (``network.logsetup.chain_witness_set`` and
``ChainWitnesses``): whom it asks (the URL of the command line, else the witness endpoint on chain), whom it counts
(a witness key valid at the head, an active member), and how a URL retired, moved or malformed changes that, from
snapshots as the view reads them; no chain, no socket."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import MemberStatus, OrgId, Role, endpoint_url
from chain.trustview import TrustSnapshot, TrustView
from contracts import CONTRACT_NAMES
from network.description import ConsortiumDescription, MemberDescription
from network.identity import create_org_identity
from network.logsetup import ChainWitnesses, chain_witness_set, chain_witness_urls
from notary.checkpointer import WitnessPolicy
from notary.logsuite import INTL, WitnessVerifier

PASS = b"witness-urls-unit-passphrase"
ACTIVE, SUSPENDED, REMOVED = MemberStatus.ACTIVE, MemberStatus.SUSPENDED, MemberStatus.REMOVED


def public(seed: int) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def rec(
    org: str, index: int, kind: KeyKind, value: bytes, valid_from: int = 0, valid_until: int | None = None
) -> KeyRecord:
    state = KeyState.OPEN if valid_until is None else KeyState.RETIRED
    return KeyRecord(OrgId(org), index, kind, value, valid_from, valid_until, state, 0, None)


def verifier(org: str, key: bytes) -> WitnessVerifier:
    return INTL.cosignature_verifier(f"t/witness/{org}", key)


POLICY = WitnessPolicy(2, ("reg", "alpha"), True, frozenset({"reg"}))
FOUNDERS = frozenset({"reg", "alpha", "beta"})
ROLES = {"newco": Role.MEMBER | Role.WITNESS, "plain": Role.MEMBER}


def roles_of(org: str) -> Role:
    return ROLES.get(org, Role(0))


def founders_records() -> dict[str, tuple[KeyRecord, ...]]:
    return {
        "reg": (rec("reg", 0, KeyKind.WITNESS_KEY, public(1)), rec("reg", 1, KeyKind.WITNESS_ENDPOINT, b"http://r:1")),
        "alpha": (rec("alpha", 0, KeyKind.WITNESS_KEY, public(2)),),
    }


def witness_set(
    records: dict[str, tuple[KeyRecord, ...]],
    head: int,
    given: dict[str, str] | None = None,
    statuses: Mapping[str, int] | None = None,
) -> tuple[dict[str, str], tuple[str, ...]]:
    """(org → URL asked, orgs counted) at ``head``."""
    snapshot = TrustSnapshot.of(head, 1, records, statuses)
    witnesses, policy = chain_witness_set(snapshot, head, POLICY, FOUNDERS, roles_of, given or {}, verifier)
    assert (policy.threshold, policy.require_regulator) == (2, True)  # never changed by the chain
    return {w.org: w.url for w in witnesses}, policy.witnesses


def test_a_joined_witness_is_asked_at_the_url_the_chain_lists() -> None:
    records = founders_records()
    records["newco"] = (rec("newco", 0, KeyKind.WITNESS_KEY, public(3), valid_from=5),)
    asked, counted = witness_set(records, 6)
    assert counted == ("reg", "alpha", "newco")  # counted on its key and role, not asked without a URL
    assert asked == {"reg": "http://r:1"}
    records["newco"] += (rec("newco", 1, KeyKind.WITNESS_ENDPOINT, b"https://w.newco.example:8551", valid_from=7),)
    assert witness_set(records, 6)[0] == {"reg": "http://r:1"}  # the URL is not valid yet at block 6
    asked, counted = witness_set(records, 7)
    assert asked == {"reg": "http://r:1", "newco": "https://w.newco.example:8551"}
    assert counted == ("reg", "alpha", "newco")


def test_the_command_line_wins_over_the_chain() -> None:
    records = founders_records()
    asked, _ = witness_set(records, 3, given={"reg": "http://127.0.0.1:8551", "alpha": "http://127.0.0.1:8552"})
    assert asked == {"reg": "http://127.0.0.1:8551", "alpha": "http://127.0.0.1:8552"}
    # a URL given for an org that is no witness on chain asks nobody
    asked, counted = witness_set(records, 3, given={"beta": "http://127.0.0.1:8553", "plain": "http://p:1"})
    assert asked == {"reg": "http://r:1"} and counted == ("reg", "alpha")


def test_a_url_retired_drops_the_witness_and_a_move_overlaps() -> None:
    records = founders_records()
    records["newco"] = (
        rec("newco", 0, KeyKind.WITNESS_KEY, public(3)),
        rec("newco", 1, KeyKind.WITNESS_ENDPOINT, b"http://old:1", valid_until=20),
        rec("newco", 2, KeyKind.WITNESS_ENDPOINT, b"http://new:1", valid_from=10),
    )
    assert witness_set(records, 9)[0]["newco"] == "http://old:1"
    assert witness_set(records, 10)[0]["newco"] == "http://new:1"  # in the overlap, the one added last
    assert witness_set(records, 20)[0]["newco"] == "http://new:1"
    records["newco"] = (*records["newco"][:2], rec("newco", 2, KeyKind.WITNESS_ENDPOINT, b"http://new:1", 10, 30))
    asked, counted = witness_set(records, 30)
    assert "newco" not in asked and "newco" in counted  # its key still counts, but nobody asks it
    assert witness_set(records, 30, given={"newco": "http://cli:1"})[0]["newco"] == "http://cli:1"
    # a founder's URL retired: asked no more, unless the command line names it
    records["reg"] = (records["reg"][0], rec("reg", 1, KeyKind.WITNESS_ENDPOINT, b"http://r:1", valid_until=4))
    assert "reg" not in witness_set(records, 4)[0]


def test_a_witness_whose_key_ended_is_neither_counted_nor_asked_whatever_its_url() -> None:
    records = founders_records()
    records["reg"] = (rec("reg", 0, KeyKind.WITNESS_KEY, public(1), valid_until=8), records["reg"][1])
    assert "reg" in witness_set(records, 7)[0]
    asked, counted = witness_set(records, 8, given={"reg": "http://127.0.0.1:8551"})
    assert asked == {} and counted == ("alpha",)


def test_only_an_active_member_is_counted_or_asked() -> None:
    records = founders_records()
    records["newco"] = (
        rec("newco", 0, KeyKind.WITNESS_KEY, public(3)),
        rec("newco", 1, KeyKind.WITNESS_ENDPOINT, b"http://n:1"),
    )
    everyone = {"reg": ACTIVE, "alpha": ACTIVE, "newco": ACTIVE}
    assert witness_set(records, 5, statuses=everyone)[1] == ("reg", "alpha", "newco")
    for status in (SUSPENDED, REMOVED):
        asked, counted = witness_set(records, 5, statuses={**everyone, "newco": status, "reg": status})
        assert asked == {} and counted == ("alpha",)
    # a member without the witness role is not counted whatever it publishes
    records["plain"] = (
        rec("plain", 0, KeyKind.WITNESS_KEY, public(4)),
        rec("plain", 1, KeyKind.WITNESS_ENDPOINT, b"http://p:1"),
    )
    assert "plain" not in witness_set(records, 5)[1]


def test_both_keys_of_a_rotation_verify() -> None:
    records = founders_records()
    records["alpha"] = (
        rec("alpha", 0, KeyKind.WITNESS_KEY, public(2), valid_until=12),
        rec("alpha", 1, KeyKind.WITNESS_KEY, public(5), valid_from=10),
        rec("alpha", 2, KeyKind.WITNESS_ENDPOINT, b"http://a:1"),
    )
    snapshot = TrustSnapshot.of(11, 1, records)
    witnesses, _ = chain_witness_set(snapshot, 11, POLICY, FOUNDERS, roles_of, {}, verifier)
    (alpha,) = [w for w in witnesses if w.org == "alpha"]
    assert [v.key_id for v in alpha.verifiers] == [
        verifier("alpha", public(2)).key_id,
        verifier("alpha", public(5)).key_id,
    ]


def test_a_record_that_is_no_url_is_skipped() -> None:
    for bad in (
        b"\xff\xfe",
        b"ftp://w:1",
        b"http://",
        b"http:///path",
        b"http://w :1",
        b"w.example:8551",
        b"http://w\n",
    ):
        assert endpoint_url(bad) is None, bad
    assert endpoint_url(b"https://w.example:8551/witness") == "https://w.example:8551/witness"
    records = {
        "reg": (
            rec("reg", 0, KeyKind.WITNESS_KEY, public(1)),
            rec("reg", 1, KeyKind.WITNESS_ENDPOINT, b"http://good:1"),
            rec("reg", 2, KeyKind.WITNESS_ENDPOINT, b"not a url"),  # added later, but unusable: the good one stays
            rec("reg", 3, KeyKind.NODE_ENDPOINT, b"http://node:1"),  # a node's endpoint is no witness's
        )
    }
    assert chain_witness_urls(TrustSnapshot.of(3, 1, records), 3) == {"reg": "http://good:1"}


def test_the_follower_follows_the_view_with_no_restart(tmp_path: Path) -> None:
    """``ChainWitnesses`` over a view: consortium.json's witnesses at the command line's URLs until the chain was
    read, then the chain's set at each call as the view's snapshot and head move."""
    members = []
    for org, roles in (("reg", Role.REGULATOR | Role.WITNESS), ("alpha", Role.MEMBER | Role.WITNESS | Role.NOTARY)):
        identity = create_org_identity(tmp_path, OrgId(org), f"{org.title()} Firm", PASS)
        members.append(MemberDescription(OrgId(org), f"{org.title()} Firm", roles, identity))
    description = ConsortiumDescription(
        name="t",
        chain_id=1,
        chain_kind="external",
        chain_url="http://127.0.0.1:1",
        contracts={name: f"0x{i + 1:040x}" for i, name in enumerate(CONTRACT_NAMES)},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={"threshold": 2, "witnesses": ["reg", "alpha"], "require_regulator": True},
        members=tuple(members),
    )
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    follow = ChainWitnesses(view, description, {"alpha": "http://127.0.0.1:8552"}, lambda org: ROLES.get(org))
    witnesses, policy = follow()
    assert [(w.org, w.url) for w in witnesses] == [("alpha", "http://127.0.0.1:8552")]
    assert policy.witnesses == ("reg", "alpha")
    genesis: dict[str, tuple[KeyRecord, ...]] = {
        str(m.org): (
            rec(m.org, 0, KeyKind.WITNESS_KEY, m.identity.witness_public_key),
            rec(m.org, 1, KeyKind.WITNESS_ENDPOINT, f"http://{m.org}.example:855{i}".encode()),
        )
        for i, m in enumerate(members)
    }
    view._snapshot, view._head = TrustSnapshot.of(4, 2, genesis), 4  # as a refresh at block 4 leaves it
    witnesses, policy = follow()
    assert [(w.org, w.url) for w in witnesses] == [
        ("alpha", "http://127.0.0.1:8552"),
        ("reg", "http://reg.example:8550"),
    ]
    joined: dict[str, tuple[KeyRecord, ...]] = {
        **genesis,
        "newco": (
            rec("newco", 0, KeyKind.WITNESS_KEY, public(9), valid_from=6),
            rec("newco", 1, KeyKind.WITNESS_ENDPOINT, b"https://newco.example", valid_from=6, valid_until=9),
        ),
    }
    view._snapshot, view._head = TrustSnapshot.of(6, 4, joined), 6
    witnesses, policy = follow()
    assert [(w.org, w.url) for w in witnesses] == [
        ("alpha", "http://127.0.0.1:8552"),
        ("newco", "https://newco.example"),
        ("reg", "http://reg.example:8550"),
    ]
    assert policy.witnesses == ("reg", "alpha", "newco") and policy.threshold == 2
    assert witnesses[1].verifier.key_id == INTL.cosignature_verifier("t/witness/newco", public(9)).key_id
    view._head = 9  # the head passes the URL's end: no read, dropped from the next round
    witnesses, policy = follow()
    assert [w.org for w in witnesses] == ["alpha", "reg"] and "newco" in policy.witnesses


class _NoChain:
    """A backend the view never asks in these tests."""

    description = "no chain"
