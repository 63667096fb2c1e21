"""The consortium's public keys for verifying the log, as the explorer hands them out with every proof.

From consortium.json alone: the log's origin and its vkey (C2SP signed-note), each witness's cosigner vkey
(C2SP tlog-cosignature) and whether it is a regulator, and the witness policy a checkpoint must satisfy. The
vkeys are of the consortium's suite (``crypto``): Ed25519 under ``intl``, the SM2 profile's under ``sm``, whose
type tells the browser's verifier to hash with SM3.
"""

from __future__ import annotations

from typing import Any

from chain.ids import Role
from network.description import ConsortiumDescription
from network.logsetup import log_origin, log_vkey, witness_vkey
from notary.verify import TrustRoots


def consortium_keys(description: ConsortiumDescription, roots: TrustRoots) -> dict[str, Any]:
    """``{origin, log_vkey, witnesses: [{org, vkey, regulator}], policy: {threshold, require_regulator}}``."""
    d = description
    regulators = {m.org for m in d.members if Role.REGULATOR in m.roles}
    origin = log_origin(d)
    witnesses = [
        {
            "org": org,
            "vkey": witness_vkey(d, org),
            "regulator": org in regulators,
        }
        for org in roots.policy.witnesses
    ]
    return {
        "origin": origin,
        "log_vkey": log_vkey(d),
        "witnesses": witnesses,
        "policy": {
            "threshold": roots.policy.threshold,
            "require_regulator": roots.policy.require_regulator,
        },
    }
