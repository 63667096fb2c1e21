"""Grants of access: ``/grants`` (filtered by asset, grantee, grantor, state) and ``/grants/{grant_id}`` with
its history; a member's people see the grants where their firm is grantor or grantee, and the private grants
(no terms) where it is grantor, or grantee as the log shows it (:func:`private_grantee`: the caller of its calls,
allowed or denied, at the grantor's gateway) or as the person proves
with the opening of the grant's key (:func:`opens_key`): one opening on a grant's page, up to
:data:`MAX_OPENINGS` with the list and with an asset's detail (:data:`Openings`, read by :func:`held_openings`;
``explorer.api.assets``), so that a grantee's list and asset pages hold its private grants before their first
call. :func:`private_row` is the one rule all three apply."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from chain.contracts.grants import PrivateGrantInfo, private_key
from explorer import access
from explorer.api.deps import NAME, CurrentPerson, Explorer, ExplorerDep, GrantId, Subject
from explorer.api.schemas import GrantDetail, Grants
from explorer.calls import CallFilter
from explorer.errors import NotFoundError
from explorer.state import GrantJSON, grant_json, private_grant_json
from network.logins import Person

router = APIRouter(tags=["grants"])


def private_grantee(explorer: Explorer, grant: PrivateGrantInfo, caller: str | None = None) -> str | None:
    """The grantee of a private grant as the log shows it, or None: the caller of a call under the grant served by
    its grantor, allowed or denied. The grantor's gateway names a private grant in a call's event only when the
    grant is the one the chain holds under the key of the terms its firm keeps for (asset, caller, purpose)
    (``network.grantterms.decide``, ``check_private``): ``keccak256(salt, asset, grantee, purpose)`` with the
    caller as grantee, the key :func:`opens_key` checks. So a call denied under the grant (revoked, expired, not yet
    valid, out of quota, even terms that no longer hash to its commitment) shows its grantee as an allowed one
    does; the caller names an asset and a purpose, never a grant id. An allowed call is asked for first when no
    ``caller`` is given (the grantor's and the regulator's view). ``caller`` asks only whether that firm is the
    grantee (one probe of its own calls). The grantee of a grant no call has used yet is not known here."""
    grant_id = "0x" + grant.grant_id.hex()
    for decision in ("allow", None) if caller is None else (None,):
        f = CallFilter(caller=caller, provider=grant.grantor, asset=grant.asset, grant=grant_id, decision=decision)
        rows = explorer.calls.search(f, before=None, limit=1)
        if rows:
            return str(rows[0]["caller_org"])
    return None


#: The request header in which a private grant's grantee opens the grant's key: ``0x<salt, 64 hex> <purpose>``.
OPENING_HEADER = "consortium-grant-opening"
_ONE_OPENING = r"0x[0-9a-f]{64} [a-z0-9][a-z0-9._-]{0,31}"
OPENING = rf"^{_ONE_OPENING}$"
#: At most this many openings, separated by ``", "``, in the header of one request for the grants list.
MAX_OPENINGS = 64
OPENINGS = rf"^{_ONE_OPENING}(, {_ONE_OPENING}){{0,{MAX_OPENINGS - 1}}}$"

#: The header of a request that lists private grants (the grants list, an asset's detail): the openings the
#: person's page holds (``static/openings.js``).
Openings = Annotated[
    str | None,
    Header(
        alias=OPENING_HEADER,
        pattern=OPENINGS,
        description=f"a private grant's grantee sees its private grants before the log shows it calling under "
        f"them: the salt and purpose of each grant's terms (`0x<64 hex> <purpose>`, up to {MAX_OPENINGS} "
        "separated by `, `); a private grant whose key one of them opens with the person's firm as grantee is "
        "shown with `grantee` that firm; kept nowhere",
    ),
]


def held_openings(header: str | None) -> tuple[str, ...]:
    """The openings of a :data:`Openings` header (already matched against :data:`OPENINGS`)."""
    return () if header is None else tuple(header.split(", "))


def opens_key(person: Person, grant: PrivateGrantInfo, opening: str | None) -> bool:
    """Whether ``opening`` (the salt and purpose of the person's terms, :data:`OPENING`) opens the grant's key
    with the person's own firm as grantee: ``keccak256(salt, asset, org, purpose)`` is the key the chain holds.
    The key binds the grantee, so only the grantee's terms open it for the grantee's people; another firm holding
    them (or guessing) opens it for no one but that grantee. Nothing of the opening is kept, logged or recorded
    (the audit event digests the request's method and target, not its headers)."""
    if opening is None:
        return False
    salt_hex, purpose = opening.split(" ", 1)
    key = private_key(bytes.fromhex(salt_hex[2:]), grant.asset, person.org, purpose)
    return hmac.compare_digest(key, grant.key)


def private_row(
    explorer: Explorer, person: Person, grant: PrivateGrantInfo, openings: Sequence[str] = ()
) -> GrantJSON | None:
    """A private grant's row for ``person``, or None if they may not see it; with ``grantee`` when the log shows
    it (:func:`private_grantee`): its grantor and its grantee know it, and the regulator reads every call. Before
    the log shows it, a person one of whose ``openings`` opens the grant's key for their firm (:func:`opens_key`)
    is its grantee's."""
    if person.is_regulator or person.org == grant.grantor:
        grantee = private_grantee(explorer, grant)
    else:
        grantee = private_grantee(explorer, grant, person.org)
        if grantee is None and any(opens_key(person, grant, o) for o in openings):
            grantee = person.org
    if not access.sees_private_grant(person, grant, grantee):
        return None
    snap = explorer.state.snapshot
    row = private_grant_json(grant, snap.asset(grant.asset))
    row["grantee"] = grantee
    return row


GrantState = Annotated[
    str | None, Query(alias="state", pattern="^(active|revoked|expired|not_yet_valid|void|private)$")
]


@router.get("/grants", response_model=Grants, response_model_exclude_unset=True)
def grants(
    explorer: ExplorerDep,
    p: CurrentPerson,
    asset: Annotated[str | None, Query(pattern=NAME)] = None,
    grantee: Annotated[str | None, Query(pattern=NAME)] = None,
    grantor: Annotated[str | None, Query(pattern=NAME)] = None,
    grant_state: GrantState = None,
    openings: Openings = None,
) -> dict[str, Any]:
    """A member's people: the grants where their firm is grantor or grantee; a private grant (no terms) where it
    is grantor, or grantee as the log shows it or as one of the person's ``openings`` proves. The regulator's
    people: every grant."""
    opened = held_openings(openings)
    snap = explorer.state.snapshot
    out: list[GrantJSON] = []
    for g in snap.grants:
        if not access.sees_grant(p, g) or (asset and g.asset != asset) or (grantee and g.grantee != grantee):
            continue
        if grantor and g.grantor != grantor:
            continue
        row = grant_json(g, snap.asset(g.asset), snap.block_time)
        if grant_state is None or row["state"] == grant_state:
            out.append(row)
    for pg in snap.private_grants:
        if (asset and pg.asset != asset) or (grantor and pg.grantor != grantor):
            continue
        shown = private_row(explorer, p, pg, opened)
        if shown is None or (grantee and shown["grantee"] != grantee):
            continue
        if grant_state is None or shown["state"] == grant_state:
            out.append(shown)
    return {"block": snap.block, "grants": out}


@router.get("/grants/{grant_id}", response_model=GrantDetail, response_model_exclude_unset=True)
def grant(
    explorer: ExplorerDep,
    p: CurrentPerson,
    grant_id: GrantId,
    subject: Subject,
    opening: Annotated[
        str | None,
        Header(
            alias=OPENING_HEADER,
            pattern=OPENING,
            description="a private grant's grantee proves it is one before the log shows it: the salt and purpose "
            "of its terms (`0x<64 hex> <purpose>`), which must open the grant's key with the person's firm as "
            "grantee; kept nowhere",
        ),
    ] = None,
) -> dict[str, Any]:
    snap = explorer.state.snapshot
    private = snap.private_grant(grant_id)
    fresh = None
    if private is None and snap.grant(grant_id) is None:  # made after the latest snapshot was read: either kind
        fresh = explorer.state.fresh_grant(grant_id)
        private = None if fresh is not None else explorer.state.fresh_private_grant(grant_id)
    if private is not None:
        row = private_row(explorer, p, private, () if opening is None else (opening,))
        if row is None:
            raise NotFoundError(f"grant {grant_id}")
        subject([private.grantor, *([row["grantee"]] if row["grantee"] else [])])
        return {**row, "history": explorer.chain.history("grant", grant_id)}
    found = snap.grant(grant_id)
    asset, now = (snap.asset(found.asset), snap.block_time) if found is not None else (None, 0)
    if found is None and fresh is not None:
        found, asset, now = fresh  # issued after the latest snapshot was read
    if found is None or not access.sees_grant(p, found):
        raise NotFoundError(f"grant {grant_id}")
    subject([found.grantor, found.grantee])
    return {
        **grant_json(found, asset, now),
        "history": explorer.chain.history("grant", grant_id),
    }
