"""The consortium's public keys for verifying the log, as the explorer hands them out with every proof.

The log's origin and its vkey (C2SP signed-note) come from consortium.json; the witnesses are those valid on chain
for the checkpoint in question (``network.witnesskeys``: at the block that anchored it, at the head for one not
anchored or when no checkpoint is named), one entry per key valid then (both keys of a rotation's overlap), each a
cosigner vkey (C2SP tlog-cosignature) with whether its org is a regulator, and the witness policy a checkpoint must
satisfy: the threshold and ``require_regulator`` of consortium.json, the orgs counted and the regulators among them
as the chain says. ``witness_keys`` says where the witnesses come from (the chain at which block, or consortium.json
when the explorer reads no TrustDirectory). ``log_keys``, when the directory holds the log's keys (a log whose key
rotates, ``consortium notary rotate-key``), lists every one of them with its validity and whether it is valid at
the same block: the browser checks a checkpoint under the key its signature line names, valid at that block
(``notary.logkeys``), where ``log_vkey`` stays ``consortium.json``'s, the key the log started with. The vkeys
are of the consortium's suite (``crypto``): Ed25519 under ``intl``, the SM2 profile's under ``sm``, whose type
tells the browser's verifier to hash with SM3.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from network.description import ConsortiumDescription
from network.logsetup import log_origin, log_vkey, witness_vkey
from network.witnesskeys import CheckpointWitnesses, WitnessKeysJSON
from notary.logkeys import LogKeys
from notary.logsuite import LogSuite


class WitnessKeyJSON(TypedDict):
    org: str
    vkey: str
    regulator: bool


class WitnessPolicyJSON(TypedDict):
    threshold: int
    require_regulator: bool
    witnesses: list[str]
    regulators: list[str]


class LogKeyJSON(TypedDict):
    vkey: str
    key_id: str
    record: int
    valid_from: int
    valid_until: int | None
    compromised: bool
    valid: bool


class LogKeysJSON(TypedDict):
    block: int
    anchored: bool
    detail: str
    keys: list[LogKeyJSON]


class ConsortiumKeysJSON(TypedDict):
    """What ``GET /api/v1/keys`` answers (``explorer.api.schemas.Keys``), what a provenance answer and an evidence
    zip carry: the keys a checkpoint is verified under."""

    origin: str
    log_vkey: str
    witnesses: list[WitnessKeyJSON]
    policy: WitnessPolicyJSON
    witness_keys: WitnessKeysJSON
    log_keys: NotRequired[LogKeysJSON]


def consortium_keys(description: ConsortiumDescription, chosen: CheckpointWitnesses) -> ConsortiumKeysJSON:
    """``{origin, log_vkey, witnesses: [{org, vkey, regulator}], policy: {threshold, require_regulator, witnesses,
    regulators}, witness_keys: {source, block, anchored, detail, log_key, log_key_detail}, log_keys?: {block,
    anchored, detail, keys: [{vkey, key_id, record, valid_from, valid_until, compromised, valid}]}}``."""
    d = description
    policy = chosen.policy
    witnesses: list[WitnessKeyJSON] = [
        {"org": org, "vkey": witness_vkey(d, org, key), "regulator": org in policy.regulators}
        for org in policy.witnesses
        for key in chosen.keys.get(org, ())
    ]
    answer: ConsortiumKeysJSON = {
        "origin": log_origin(d),
        "log_vkey": log_vkey(d),
        "witnesses": witnesses,
        "policy": {
            "threshold": policy.threshold,
            "require_regulator": policy.require_regulator,
            "witnesses": list(policy.witnesses),
            "regulators": sorted(policy.regulators & set(policy.witnesses)),
        },
        "witness_keys": chosen.to_json(),
    }
    if chosen.log_keys is not None and chosen.block is not None:
        answer["log_keys"] = log_keys_json(d.suite, chosen.log_keys, chosen.block, chosen.describe_log_key())
    return answer


def log_keys_json(suite: LogSuite, keys: LogKeys, block: int, detail: str) -> LogKeysJSON:
    """The log's keys on chain as ``GET /api/v1/keys`` serves them: each with its vkey (of the log's ``suite``), C2SP
    key id, record and validity, and whether it is valid at ``block`` (the block they are judged at)."""
    return {
        "block": block,
        "anchored": keys.anchored,
        "detail": detail,
        "keys": [
            {
                "vkey": suite.format_vkey(keys.origin, k.verifier.public_key),
                "key_id": k.key_id.hex(),
                "record": k.index,
                "valid_from": k.valid_from,
                "valid_until": k.valid_until,
                "compromised": k.compromised,
                "valid": k.valid_at(block),
            }
            for k in keys.keys
        ],
    }
