"""Who sees what (``docs/explorer.md``), in one place so that every endpoint applies the same rules.

A member's people see the calls where their firm is caller or provider, the grants where it is grantor or
grantee, and the detail of a private asset (classification ≥ 3) only if their firm owns it or holds a grant on
it. The regulator sees everything. What a person may not see is answered exactly like what does not exist.

The explorer's own records of people's queries (ledger queries, ``notary.event.is_ledger_query``) name the
operator as provider, but the operator only runs the service: such a query is seen by the querying firm's
people and by the regulator, never by the operator's people unless their firm made it. A regulator's query that
names the firms whose data it read (its ``subject``) is also seen by those firms' people when the consortium's
``audit`` policy says so (``notary.event.QueryVisibility``, off by default); one firm's queries by no other firm.
A private grant (its terms off chain) is seen, without its terms, by its grantor's people, the regulator, and its
grantee's people once the log shows the grantee calling under it (allowed or denied), or, on the grant's page, in
their grants list and under its asset, once they open the grant's key with their own terms
(``explorer.api.grants.opens_key``, applied by ``explorer.api.grants.private_row``): the explorer holds none of its
terms (``sees_private_grant``).
The call index applies the same rule to searches, exports and counts (``explorer.calls.CallFilter.party``).
A gateway's sequence gaps and last sequence number are its own firm's and the regulator's (``sees_gateway``),
and so are the alarms about a gateway (``sees_alarm``); every other operational alarm is every member's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chain.contracts.assets import AssetInfo
from chain.contracts.grants import GrantInfo, PrivateGrantInfo
from explorer.chainindex import TransactionLog, TransactionRow
from explorer.state import PRIVATE_FROM, Snapshot
from network.alarms.book import Alarm
from network.logins import Person
from notary.event import QueryVisibility, parties


def party(person: Person) -> str | None:
    """The tenant restriction of ``person``'s searches: their org, or None (everything) for the regulator."""
    return None if person.is_regulator else person.org


def sees_call(person: Person, row: Mapping[str, Any], visibility: QueryVisibility | None = None) -> bool:
    """Whether ``person`` may see the call (or ledger query) ``row``: the regulator always; a member's people if
    their firm is its caller or provider, a ledger query's provider (the operator) excepted, or, under
    ``visibility``, the subject of a regulator's query (``notary.event.parties``)."""
    return person.is_regulator or person.org in parties(row, visibility)


def sees_grant(person: Person, grant: GrantInfo) -> bool:
    return person.is_regulator or person.org in (grant.grantor, grant.grantee)


def sees_private_grant(person: Person, grant: PrivateGrantInfo, grantee: str | None = None) -> bool:
    """A private grant's row (asset, grantor, creation, revocation; never terms): its grantor, its ``grantee``
    when the explorer knows it, and the regulator. The grantee is in the terms, which the explorer does not hold;
    it knows it from the log (``private_grantee``: the caller of a call under the grant at its grantor's gateway,
    allowed or denied, which names the grant only when the key of the terms it holds for that caller is the
    grant's, the key binding the caller as grantee) or from the person's opening of the grant's key with their own
    firm as grantee (``opens_key``)."""
    return person.is_regulator or person.org == grant.grantor or (grantee is not None and person.org == grantee)


def sees_asset_detail(
    person: Person,
    asset: AssetInfo,
    snapshot: Snapshot,
    private_grantee: Callable[[PrivateGrantInfo], bool] | None = None,
) -> bool:
    """A private asset's detail: its owner, the regulator, the grantee of a clear grant on it, and the grantee of a
    private grant on it that ``private_grantee`` says the person's firm is (what the explorer knows of that, the
    log or an opening: :func:`sees_private_grant`)."""
    if person.is_regulator or asset.classification < PRIVATE_FROM or asset.owner == person.org:
        return True
    if any(g.asset == asset.asset and g.grantee == person.org for g in snapshot.grants):
        return True
    return private_grantee is not None and any(
        g.asset == asset.asset and private_grantee(g) for g in snapshot.private_grants
    )


def sees_org_report(person: Person, org: str) -> bool:
    return person.is_regulator or person.org == org


def sees_gateway(person: Person, gateway_id: str) -> bool:
    """Whether ``person`` may see a gateway's sequence gaps and last sequence number: the regulator always; a
    member's people for their own firm's gateways (``<org>/<name>``) only, the operator's as any other firm's
    (the notary's ``Reader.may_read_gateway``)."""
    return person.is_regulator or gateway_id.split("/", 1)[0] == person.org


def sees_alarm(person: Person, alarm: Alarm) -> bool:
    """Whether ``person`` may see an operational alarm: the regulator every one; anyone else every alarm but
    those about another firm's gateway, since which gateways a firm runs is its own business (``sees_gateway``).
    The others name components whose health every member already reads (``/health``: witnesses, nodes, the
    notary) and no call."""
    return not alarm.subject.startswith("gateway/") or sees_gateway(person, f"{alarm.org}/")


#: Argument and event fields that name the firms a contract call is about.
_PARTY_FIELDS = ("grantee", "grantor", "org", "owner", "to_org", "from_org", "provider")


def sees_transaction(person: Person, tx: Mapping[str, Any], snapshot: Snapshot) -> bool:
    """Whether ``person`` may see the decoded arguments of ``tx``: always, except for AccessGrants calls and
    events, which are visible to the grant's parties (and the regulator) only."""
    if person.is_regulator or tx.get("contract") != "AccessGrants":
        return True
    named: set[str] = set()
    for args in [tx.get("args") or {}] + [e.get("args") or {} for e in tx.get("events") or []]:
        named.update(str(args[f]) for f in _PARTY_FIELDS if f in args)
        grant_id = args.get("grant_id")
        grant = snapshot.grant(str(grant_id)) if grant_id is not None else None
        if grant is not None:
            named.update((grant.grantor, grant.grantee))
        private = snapshot.private_grant(str(grant_id)) if grant_id is not None else None
        if private is not None:
            named.add(private.grantor)
    return person.org in named


def redact_transaction(tx: TransactionRow) -> TransactionRow:
    """``tx`` without what it says about other firms' grants: the decoded arguments and events."""
    events: list[TransactionLog] = [{**e, "args": None} for e in tx.get("events", [])]
    return {**tx, "args": None, "events": events, "redacted": True}
