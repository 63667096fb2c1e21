"""The consortium's public keys for verifying the log, as the explorer hands them out with every proof.

The log's origin and its vkey (C2SP signed-note) come from consortium.json; the witnesses are those valid on chain
for the checkpoint in question (``network.witnesskeys``: at the block that anchored it, at the head for one not
anchored or when no checkpoint is named), one entry per key valid then (both keys of a rotation's overlap), each a
cosigner vkey (C2SP tlog-cosignature) with whether its org is a regulator, and the witness policy a checkpoint must
satisfy: the threshold and ``require_regulator`` of consortium.json, the orgs counted and the regulators among them
as the chain says. ``witness_keys`` says where the witnesses come from (the chain at which block, or consortium.json
when the explorer reads no TrustDirectory). The vkeys are of the consortium's suite (``crypto``): Ed25519 under
``intl``, the SM2 profile's under ``sm``, whose type tells the browser's verifier to hash with SM3.
"""

from __future__ import annotations

from typing import Any

from network.description import ConsortiumDescription
from network.logsetup import log_origin, log_vkey, witness_vkey
from network.witnesskeys import CheckpointWitnesses


def consortium_keys(description: ConsortiumDescription, chosen: CheckpointWitnesses) -> dict[str, Any]:
    """``{origin, log_vkey, witnesses: [{org, vkey, regulator}], policy: {threshold, require_regulator, witnesses,
    regulators}, witness_keys: {source, block, anchored, detail}}``."""
    d = description
    policy = chosen.policy
    witnesses = [
        {"org": org, "vkey": witness_vkey(d, org, key), "regulator": org in policy.regulators}
        for org in policy.witnesses
        for key in chosen.keys.get(org, ())
    ]
    return {
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
