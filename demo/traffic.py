"""The demo's generator of calls between members (``consortium demo traffic``).

``demo traffic`` calls the gateways of the demo's providers as the demo's member firms, through the member SDK,
at a steady rate: mostly calls that their grants allow, mixed with every kind of call the gateways refuse (no
grant, a purpose the grant does not cover, a grant whose quota runs out, a revoked or expired grant, a suspended
member when there is one). It prints what the gateways answered, by decision and reason.

What a call should get is worked out when it is made, by the wall clock, as the gateways judge it: a grant that
expires while the traffic runs turns its calls from allowed into ``grant_expired``. A grant with a small quota
(at most ``SMALL_QUOTA`` calls, as the demo's trial grants) is one the traffic means to use up: its calls count
among the refused ones, and are allowed until the quota is gone. The refused share of the calls is spread evenly
over the reasons there are calls for, so that a rare reason shows up as often as ``no_grant``. The APIs of an
identifier set (the steps of a PSI job, ``demo.privacy``) are left out: a job runs them in order with real messages.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chain.contracts.grants import CheckResult, GrantStatus
from chain.ids import Role
from network.description import ConsortiumDescription

if TYPE_CHECKING:
    from chain.backend import ClientTls

ENDPOINTS_FILE = "endpoints.json"  # under gateways/: {org: gateway URL}, written by `consortium up`
CLIENT_NAME = "client"  # the identity each demo member calls with: orgs/<org>/users/client@<org>/


def ensure_demo_identities(directory: Path, description: ConsortiumDescription, passphrase: bytes) -> None:
    """Give every business member of the consortium the identity the demo calls with, and write the CA bundle
    callers trust the gateways with (``ca-bundle.pem``)."""
    from chain.ids import OrgId
    from network.identity import issue_identity, user_paths
    from sdk import write_ca_bundle

    for member in description.members:
        org = OrgId(member.org)
        if Role.MEMBER in member.roles and not user_paths(directory, org, CLIENT_NAME).user_dir.exists():
            issue_identity(directory, org, CLIENT_NAME, passphrase)
    write_ca_bundle(directory, description)


def write_endpoints(directory: Path, endpoints: dict[str, str]) -> None:
    path = directory / "gateways" / ENDPOINTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(endpoints, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


#: A grant of at most this many calls is one the demo traffic sets out to use up.
SMALL_QUOTA = 50
#: Answers of AccessGrants.check that depend only on the time: the grant exists and is in force but for its window.
_TIMED = frozenset({GrantStatus.ALLOWED, GrantStatus.NOT_YET_VALID, GrantStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class Plan:
    """One kind of call the generator makes: who calls which API with which purpose, and what it expects."""

    caller: str
    provider: str
    method: str
    route: str
    purpose: str
    expect: str  # "allow" (under a grant, within its window) or a denial reason the generator aims for
    not_before: int = 0  # the grant's window, for "allow"
    expires_at: int = 0  # 0: no window
    quota: int = 0  # the grant's quota, for "allow" (0 = unlimited)

    def expected(self, now: float) -> str:
        """What a gateway should answer at ``now`` (unix seconds): "allow" or a denial reason."""
        if self.expect != "allow" or not self.expires_at:
            return self.expect
        if now < self.not_before:
            return "grant_not_yet_valid"
        if now >= self.expires_at:
            return "grant_expired"
        if 0 < self.quota <= SMALL_QUOTA:
            return "quota_exhausted"
        return "allow"

    def accepts(self, outcome: str, now: float) -> bool:
        """Whether ``outcome`` is a right answer at ``now``: the expected one, or, under a grant with a quota,
        "allow" and "quota_exhausted" alike (the gateway counts every caller's calls, not only ours)."""
        expected = self.expected(now)
        if outcome == expected:
            return True
        either = ("allow", "quota_exhausted")
        return self.quota > 0 and expected in either and outcome in either


def plans(directory: Path, chain_url: str | None = None, tls: ClientTls | None = None) -> list[Plan]:
    """Calls worth making in this consortium, from its catalogue and the grants on chain: the clear ones as the
    chain holds them, the private ones from the terms their grantors keep (``network.grantterms``: the demo's
    grants are private, and ``init --demo`` leaves each grantor's terms in its store). Each call is judged as
    the provider's gateway judges it (``grantterms.decide`` with the provider's terms store). A call that no
    grant covers expects the chain's reason (``no_grant``, or ``asset_retired``, ``member_suspended``, ...)."""
    from gateway.psi import TERMS_SUFFIX
    from network.consortium import Consortium
    from network.grantterms import TermsStore, decide

    consortium = Consortium.open(directory, chain_url, tls)  # tls: a member's certificate, for https
    # not the steps of a PSI job (demo.privacy): a call of one alone, with a made-up body, is a malformed step
    identifier_sets = {p.name.removesuffix(TERMS_SUFFIX) for p in directory.glob(f"orgs/*/privacy/*{TERMS_SUFFIX}")}
    apis = [a for a in consortium.assets.apis() if a.active and a.asset not in identifier_sets]
    clear, private = consortium.grants.grants_of_both_kinds()
    now = consortium.now()
    members = [m for m in consortium.registry.members() if Role.MEMBER in m.roles]  # business members call
    owners: dict[str, str] = {a.asset: a.owner for a in consortium.assets.assets()}
    stores: dict[str, TermsStore] = {}

    def store(org: str) -> TermsStore:
        if org not in stores:
            stores[org] = TermsStore(directory, org)
        return stores[org]

    def check(asset: str, grantee: str, purpose: str) -> CheckResult:
        owner = owners.get(asset)
        return decide(consortium.grants, None if owner is None else store(owner), asset, grantee, purpose, now).result

    def refusal(asset: str, grantee: str, purpose: str) -> str | None:
        """The reason the gateway refuses ``grantee`` ``asset`` for ``purpose``; None if a grant covers it."""
        status = check(asset, grantee, purpose).status
        return None if status in _TIMED else _reason(status)

    # (grant id, asset, grantee, purpose, not before, expires at, quota) of every grant whose terms are known
    known: list[tuple[bytes, str, str, str, int, int, int]] = [
        (g.grant_id, g.asset, g.grantee, g.purpose, g.not_before, g.expires_at, g.quota) for g in clear
    ]
    for p in private:
        record = store(p.grantor).by_grant(p.grant_id)
        if record is not None:
            t = record.terms
            known.append((p.grant_id, t.asset, t.grantee, t.purpose, t.not_before, t.expires_at, t.quota))
    out: list[Plan] = []
    granted: set[tuple[str, str]] = set()
    for grant_id, asset, grantee, purpose, not_before, expires_at, quota in known:
        answer = check(asset, grantee, purpose)
        if answer.grant_id is not None and answer.grant_id != grant_id:
            continue  # a later grant for the same asset, grantee and purpose answers: it has its own plans
        other_purpose = refusal(asset, grantee, "marketing")
        for api in apis:
            if api.asset != asset:
                continue
            call = (grantee, api.provider, api.method, api.route)
            if answer.status in _TIMED:
                out.append(Plan(*call, purpose, "allow", not_before, expires_at, quota))
            else:
                out.append(Plan(*call, purpose, _reason(answer.status)))
            if other_purpose is not None:
                out.append(Plan(*call, "marketing", other_purpose))
            granted.add((grantee, asset))
    rng = random.Random(7)
    for api in rng.sample(apis, min(12, len(apis))):
        for m in members:
            if m.org != api.provider and (m.org, api.asset) not in granted:
                reason = refusal(api.asset, m.org, "research")
                if reason is not None:
                    out.append(Plan(m.org, api.provider, api.method, api.route, "research", reason))
                break
    return out


def _by_expectation(all_plans: list[Plan], now: float) -> tuple[list[Plan], dict[str, list[Plan]]]:
    """The plans expected to be allowed at ``now``, and the others by the reason they should be refused for."""
    allowed: list[Plan] = []
    refused: dict[str, list[Plan]] = {}
    for plan in all_plans:
        expected = plan.expected(now)
        if expected == "allow":
            allowed.append(plan)
        else:
            refused.setdefault(expected, []).append(plan)
    return allowed, refused


def _reason(status: GrantStatus) -> str:
    from gateway.policy import DENIAL_REASONS

    return DENIAL_REASONS.get(status, "no_grant")


@dataclass
class Summary:
    """What the gateways answered: calls made, their outcomes (``allow`` or a reason), and how many of them the
    grants (on chain, and the grantors' terms of private ones) did not predict."""

    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())


def run_traffic(
    directory: Path,
    endpoints: dict[str, str],
    all_plans: list[Plan],
    passphrase: bytes,
    rate: float,
    duration: float,
    deny_share: float,
    seed: int | None,
) -> Summary:
    """Call the gateways in ``endpoints`` at ``rate`` calls a second for ``duration`` seconds (0: until
    interrupted), choosing a share ``deny_share`` of the calls among the plans that should be refused."""
    from sdk import MemberClient

    clients: dict[str, MemberClient] = {}
    rng = random.Random(seed)
    summary = Summary()
    lock = threading.Lock()
    interval = 1.0 / rate
    deadline = time.monotonic() + duration if duration else float("inf")
    next_at = time.monotonic()
    regroup_at = 0.0
    allowed: list[Plan] = []
    refused: dict[str, list[Plan]] = {}
    try:
        while time.monotonic() < deadline:
            started = time.time()
            if started >= regroup_at:  # grants expire (or start) while the traffic runs
                allowed, refused = _by_expectation(all_plans, started)
                regroup_at = started + 1.0
            if refused and (not allowed or rng.random() < deny_share):
                plan = rng.choice(refused[rng.choice(sorted(refused))])
            else:
                plan = rng.choice(allowed)
            client = clients.get(plan.caller)
            if client is None:
                client = clients[plan.caller] = MemberClient.from_directory(
                    directory, plan.caller, name=CLIENT_NAME, passphrase=passphrase
                )
            params = {"symbol": rng.choice(["600519.SH", "000001.SZ", "601318.SH", "300750.SZ"]), "limit": "20"}
            body = {"query": "earnings", "limit": 10} if plan.method == "POST" else None
            try:
                result = client.call(
                    endpoints[plan.provider],
                    plan.method,
                    plan.route,
                    purpose=plan.purpose,
                    params=params if plan.method == "GET" else None,
                    json=body,
                )
                outcome = "allow" if result.status < 400 else (result.denial_reason or f"http_{result.status}")
            except Exception as exc:
                outcome = f"error:{type(exc).__name__}"
            with lock:
                summary.outcomes[outcome] += 1
                if not (plan.accepts(outcome, started) or plan.accepts(outcome, time.time())):
                    summary.unexpected += 1
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    except KeyboardInterrupt:
        pass
    finally:
        for client in clients.values():
            client.close()
    return summary
