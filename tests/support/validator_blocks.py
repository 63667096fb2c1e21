"""Synthetic blocks as the chain index lists them, for the tests of the validators' activity: a QBFT chain whose
blocks are decided in chosen rounds by their round's proposer (``chain.qbft.rules.proposer``), with chosen
validator sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_utils.address import to_checksum_address

from chain.qbft.rules import proposer


def addr(byte: int) -> str:
    return str(to_checksum_address(bytes([byte]) * 20))


A, B, C, D, E = (addr(b) for b in (0x11, 0x22, 0xAB, 0xCD, 0xEE))  # ascending: the rotation order
ZERO = addr(0)
ORGS = {A: "alpha", B: "beta", C: "gamma", D: "delta"}  # E holds no member's account


def org_of(address: str) -> str | None:
    return ORGS.get(address)


def next_proposer(validators: Sequence[str], previous: str, round_: int) -> str:
    ordered = sorted(bytes.fromhex(v[2:]) for v in validators)
    return str(to_checksum_address(proposer(ordered, bytes.fromhex(previous[2:]), round_)))


def row(
    number: int,
    validators: Sequence[str],
    by: str | None,
    round_: int = 0,
    signers: Sequence[str] = (),
    *,
    recorded: bool = True,
) -> dict[str, Any]:
    """A block as ``ChainIndex.blocks`` lists it; ``recorded=False``: indexed before the proposer was recorded."""
    seals: dict[str, Any] = {
        "format": "qbft",
        "round": round_,
        "validators": list(validators),
        "signers": [{"address": s, "org": ORGS.get(s)} for s in signers],
        "threshold": None,
        "valid": None,
    }
    if recorded:
        seals["proposer"] = None if by is None else {"address": by, "org": ORGS.get(by)}
    return {"number": number, "hash": f"0x{number:064x}", "parent_hash": "", "timestamp": number, "tx_count": 0,
            "seals": seals}  # fmt: skip


def chain(
    rounds: Sequence[int], sets: Mapping[int, Sequence[str]] | None = None, *, recorded_from: int = 0
) -> list[dict[str, Any]]:
    """Genesis (set A B C D, the zero beneficiary), then one block per entry of ``rounds`` decided in that round
    by its round's proposer, sealed by the three first of its parent's set; ``sets`` changes the set a block
    names. Newest first, as the index lists blocks."""
    sets = sets or {}
    blocks = [row(0, [A, B, C, D], ZERO)]
    validators, previous = [A, B, C, D], ZERO
    for number, round_ in enumerate(rounds, start=1):
        by = next_proposer(validators, previous, round_)
        named = list(sets.get(number, validators))
        blocks.append(row(number, named, by, round_, validators[:3], recorded=number >= recorded_from))
        validators, previous = named, by
    return blocks[::-1]
