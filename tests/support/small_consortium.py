"""The small consortium several process tests start: an operator that validates, runs the notary and witnesses, a
member firm and a regulator, both witnesses; two of three witnesses publish, the regulator's among them. Only the
operator validates: one node seals alone (the demo's four validators are tested through the CLI)."""

from __future__ import annotations

from typing import Any


def three_member_config(name: str, chain_id: int) -> dict[str, Any]:
    """The ``consortium init --config`` document of that consortium, named ``name`` on chain ``chain_id``."""
    return {
        "name": name,
        "chain_id": chain_id,
        "admission_threshold": 1,
        "proposal_ttl_days": 7,
        "witness_policy": {"threshold": 2, "witnesses": ["all-members"], "require_regulator": True},
        "members": [
            {
                "org": "op",
                "name": "Operator Cloud Co.",
                "roles": ["member", "operator", "validator", "notary", "witness"],
            },
            {"org": "alpha", "name": "Alpha Securities", "roles": ["member", "witness"]},
            {"org": "reg", "name": "Market Supervision", "roles": ["regulator", "witness"]},
        ],
    }
