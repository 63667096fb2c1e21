"""The consortium's public keys for verifying the log, as the explorer hands them out with every proof.

From consortium.json alone: the log's origin and its vkey (C2SP signed-note), each witness's cosigner vkey
(C2SP tlog-cosignature) and whether it is a regulator, and the witness policy a checkpoint must satisfy.
"""

from __future__ import annotations

from typing import Any

from chain.ids import Role
from network.description import ConsortiumDescription
from network.logsetup import log_origin, witness_name
from notary.log.cosignature import format_cosigner_vkey
from notary.log.note import format_vkey
from notary.verify import TrustRoots


def consortium_keys(description: ConsortiumDescription, roots: TrustRoots) -> dict[str, Any]:
    """``{origin, log_vkey, witnesses: [{org, vkey, regulator}], policy: {threshold, require_regulator}}``."""
    d = description
    regulators = {m.org for m in d.members if Role.REGULATOR in m.roles}
    notary = next(m for m in d.members if Role.NOTARY in m.roles)
    origin = log_origin(d)
    witnesses = [
        {
            "org": org,
            "vkey": format_cosigner_vkey(witness_name(d, org), d.member(org).identity.witness_public_key),
            "regulator": org in regulators,
        }
        for org in roots.policy.witnesses
    ]
    return {
        "origin": origin,
        "log_vkey": format_vkey(origin, notary.identity.notary_public_key),
        "witnesses": witnesses,
        "policy": {
            "threshold": roots.policy.threshold,
            "require_regulator": roots.policy.require_regulator,
        },
    }
