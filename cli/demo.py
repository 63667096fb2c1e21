"""``consortium demo ...``: the demo consortium's upstream services and a generator of calls between members.

``demo traffic`` calls the gateways of the demo's providers as the demo's member firms, through the member SDK,
at a steady rate: mostly calls that their grants allow, mixed with every kind of call the gateways refuse (no
grant, a purpose the grant does not cover, a grant whose quota runs out, a revoked or expired grant, a suspended
member when there is one). It prints what the gateways answered, by decision and reason.

What a call should get is worked out when it is made, by the wall clock, as the gateways judge it: a grant that
expires while the traffic runs turns its calls from allowed into ``grant_expired``. A grant with a small quota
(at most ``SMALL_QUOTA`` calls, as the demo's trial grants) is one the traffic means to use up: its calls count
among the refused ones, and are allowed until the quota is gone. The refused share of the calls is spread evenly
over the reasons there are calls for, so that a rare reason shows up as often as ``no_grant``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click

from chain.contracts.grants import GrantStatus
from chain.ids import Role
from network.description import ConsortiumDescription
from network.identity import load_passphrase

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


@click.group("demo")
def demo_group() -> None:
    """The demo consortium: its upstream services and generated traffic."""


@demo_group.command("services")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8547, show_default=True)
@click.option("--provider", default=None, help="Serve only this org's APIs (default: every API of the catalogue).")
def demo_services(host: str, port: int, provider: str | None) -> None:
    """Serve the demo catalogue's APIs with fictional, deterministic data (the gateways' upstream)."""
    import asyncio

    from demo import demo_config_path
    from demo.services import serve
    from network.config import load_config

    catalogue = load_config(demo_config_path()).catalogue
    assert catalogue is not None
    click.echo(f"demo services on http://{host}:{port} ({len(catalogue.apis())} APIs)", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(catalogue, host, port, provider=provider))


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


def plans(directory: Path, chain_url: str | None = None) -> list[Plan]:
    """Calls worth making in this consortium, from its catalogue and the grants on chain. A call that no grant
    covers expects the chain's reason (``no_grant``, or ``asset_retired``, ``member_suspended``, ...)."""
    from network.consortium import Consortium

    consortium = Consortium.open(directory, chain_url)
    apis = [a for a in consortium.assets.apis() if a.active]
    grants = consortium.grants.grants()
    now = consortium.now()
    members = [m for m in consortium.registry.members() if Role.MEMBER in m.roles]  # business members call

    def refusal(asset: str, grantee: str, purpose: str) -> str | None:
        """The reason the chain refuses ``grantee`` ``asset`` for ``purpose``; None if a grant covers it."""
        status = consortium.grants.check(asset, grantee, purpose, now).status
        return None if status in _TIMED else _reason(status)

    out: list[Plan] = []
    granted: set[tuple[str, str]] = set()
    for g in grants:
        check = consortium.grants.check(g.asset, g.grantee, g.purpose, now)
        if check.grant_id is not None and check.grant_id != g.grant_id:
            continue  # a later grant for the same asset, grantee and purpose answers: it has its own plans
        other_purpose = refusal(g.asset, g.grantee, "marketing")
        for api in apis:
            if api.asset != g.asset:
                continue
            call = (g.grantee, api.provider, api.method, api.route)
            if check.status in _TIMED:
                out.append(Plan(*call, g.purpose, "allow", g.not_before, g.expires_at, g.quota))
            else:
                out.append(Plan(*call, g.purpose, _reason(check.status)))
            if other_purpose is not None:
                out.append(Plan(*call, "marketing", other_purpose))
            granted.add((g.grantee, g.asset))
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


@demo_group.command("traffic")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rate", type=click.FloatRange(0.1, 10_000), default=5.0, show_default=True, help="Calls per second.")
@click.option(
    "--duration",
    type=click.FloatRange(0, 86_400),
    default=10.0,
    show_default=True,
    help="Seconds to run (0: until Ctrl-C).",
)
@click.option(
    "--deny-share",
    type=click.FloatRange(0, 1),
    default=0.25,
    show_default=True,
    help="Share of calls chosen among those that should be refused.",
)
@click.option("--seed", type=int, default=None, help="Make the sequence of calls repeatable.")
@click.option("--chain-url", default=None, help="Chain JSON-RPC URL (default: the one in consortium.json).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo_traffic(
    directory: Path,
    rate: float,
    duration: float,
    deny_share: float,
    seed: int | None,
    chain_url: str | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Generate calls between the members of the consortium in DIRECTORY through their gateways."""
    from sdk import MemberClient

    endpoints_path = directory / "gateways" / ENDPOINTS_FILE
    if not endpoints_path.is_file():
        raise click.ClickException(f"{endpoints_path} not found: start the consortium with `consortium up {directory}`")
    endpoints: dict[str, str] = json.loads(endpoints_path.read_text(encoding="utf-8"))
    passphrase = load_passphrase(file=passphrase_file)
    all_plans = [p for p in plans(directory, chain_url) if p.provider in endpoints]
    if not all_plans:
        raise click.ClickException("no API of this consortium has a running gateway")
    clients: dict[str, MemberClient] = {}
    rng = random.Random(seed)
    seen: Counter[str] = Counter()
    mismatched = 0
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
                seen[outcome] += 1
                if not (plan.accepts(outcome, started) or plan.accepts(outcome, time.time())):
                    mismatched += 1
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    except KeyboardInterrupt:
        pass
    finally:
        for client in clients.values():
            client.close()
    total = sum(seen.values())
    if as_json:
        click.echo(json.dumps({"calls": total, "outcomes": dict(seen), "unexpected": mismatched}, sort_keys=True))
    else:
        click.echo(f"{total} calls: " + ", ".join(f"{k} {v}" for k, v in seen.most_common()))
        if mismatched:
            click.echo(f"{mismatched} calls were answered differently than the grants on chain predicted")
