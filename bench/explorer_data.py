"""Synthetic, schema-valid call events for ``bench.explorer``, shipped the way gateways ship them.

The world is the demo consortium's (``demo/catalogue.toml``): 7 members (6 firms and the regulator), 80
APIs in 3 centers and 20 units, 34 data assets. The callers are the 7 members with fixed weights (the regulator
calls little); APIs are picked with Zipf weights (s = 1) among those the caller may call. Each firm holds a
grant on about 60% of the assets it does not own (grant ids are synthetic: ``0x`` + SHA-256 of a name, so the
provenance's grant and asset links find no such grant on chain; the log and chain links are real). 93% of
calls go to an API the caller holds a grant on and are allowed, but for 3% of them, refused for another
reason (expired, revoked, not yet valid, suspended member or provider, retired asset); the rest are refused
``no_grant``: about 10% denials in all.

Calls arrive at ``rate`` per second (a Poisson process ending at ``end_ms``); an event's ``time_ms`` is its
arrival time plus the gateway's jitter (±250 ms), so times increase with jitter. Each call goes to its
provider's gateway (``<provider>/gateway``, numbered by ``gateway_seq``), which ships a signed batch when it
holds ``batch_max`` events (the shipper's default, 1,000) or its oldest is ``max_age_ms`` old: log order is
close to time order but not equal to it, as in production. Event ids are UUIDv4, trace ids unique, digests
random; entries are written directly in canonical form (``notary.event.canonical_entry``), which
:func:`check_template` verifies against the notary's own validation and encoding.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from demo import demo_config_path
from network.config import load_config
from notary.event import canonical_entry, validate_event

REGULATOR = "bjcm-supervision"
#: Share of the calls each member makes.
CALLER_WEIGHTS = {
    "jinghua-sec": 0.22,
    "yanshan-sec": 0.18,
    "yongding-sec": 0.16,
    "tonghui-sec": 0.16,
    "shuzhi-tech": 0.12,
    "bjic-cloud": 0.14,
    REGULATOR: 0.02,
}
GRANTED_SHARE = 0.93  # of calls, to an API the caller holds a grant on
OTHER_DENIAL_SHARE = 0.03  # of those, refused for another reason than no_grant
#: The reasons of the calls refused although a grant exists, with their weights.
OTHER_REASONS = (
    ("grant_expired", 0.30),
    ("grant_revoked", 0.20),
    ("grant_not_yet_valid", 0.10),
    ("member_suspended", 0.15),
    ("provider_suspended", 0.10),
    ("asset_retired", 0.10),
    ("ownership_changed", 0.05),
)
#: Statuses of allowed calls (the upstream's answer) with their weights.
ALLOWED_STATUSES = ((200, 0.975), (404, 0.01), (500, 0.005), (502, 0.005), (504, 0.005))
GATEWAY_NAME = "gateway"
JITTER_MS = 250
SHIP_DELAY_MS = 20  # from a batch's cut to its receipt


@dataclass(frozen=True, slots=True)
class Api:
    api: str
    center: str
    unit: str
    method: str
    route: str
    provider: str
    asset: str


@dataclass(frozen=True, slots=True)
class World:
    apis: tuple[Api, ...]
    members: tuple[str, ...]
    providers: tuple[str, ...]
    grants: dict[tuple[str, str], str]  # (grantee, asset) → grant id
    asset_versions: dict[str, int]

    @property
    def centers(self) -> list[str]:
        return sorted({a.center for a in self.apis})


def grant_id(asset: str, grantee: str) -> str:
    return "0x" + hashlib.sha256(f"bench-explorer/grant/{asset}/{grantee}".encode()).hexdigest()


def demo_world(seed: int = 7) -> World:
    """The demo consortium's members and catalogue, with synthetic grants (see the module docstring)."""
    config = load_config(demo_config_path())
    catalogue = config.catalogue
    assert catalogue is not None
    apis = tuple(
        Api(a.id, c.id, u.id, a.method, a.route, str(a.provider), a.asset)
        for c in catalogue.centers
        for u in c.units
        for a in u.apis
    )
    members = tuple(str(m.org) for m in config.members)
    owners = {a.id: str(a.owner) for a in catalogue.assets}
    rng = random.Random(seed)
    grants: dict[tuple[str, str], str] = {}
    for member in members:
        share = 0.25 if member == REGULATOR else 0.6
        for asset in sorted(owners):
            if owners[asset] != member and rng.random() < share:
                grants[(member, asset)] = grant_id(asset, member)
    versions = {asset: 1 + rng.randrange(3) for asset in owners}
    providers = tuple(sorted({a.provider for a in apis}))
    return World(apis, members, providers, grants, versions)


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class _Picker:
    """``pick(u)`` for u uniform in [0, 1): an item with probability proportional to its weight."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        if not items:
            raise ValueError("nothing to pick from")
        self.items = list(items)
        total = sum(weights)
        self.cum = [w / total for w in _cumulative(weights)]

    def pick(self, u: float) -> Any:
        return self.items[min(bisect.bisect_right(self.cum, u), len(self.items) - 1)]


# The canonical entry (RFC 8785: keys in code-point order), with the fields that vary as placeholders.
_TEMPLATE = (
    '{{"api":"{api}","asset_id":"{asset}","asset_version":{version},"caller_identity":"{identity}",'
    '"caller_org":"{caller}","center":"{center}","decision":"{decision}","denial_reason":{reason},'
    '"event_id":"{event_id}","gateway_id":"{gateway}","gateway_seq":{seq},"grant_id":{grant},'
    '"latency_us":{latency},"method":"{method}","provider_org":"{provider}","request_digest":"{request}",'
    '"response_digest":"{response}","route":"{route}","status":{status},"time_ms":{time_ms},'
    '"traceparent":"00-{trace}-{span}-01","unit":"{unit}","v":1}}'
)


def _uuid4(hex32: str) -> str:
    """A UUIDv4 string from 32 random hex digits (version 4, RFC 4122 variant)."""
    variant = "89ab"[int(hex32[16], 16) & 3]
    return f"{hex32[:8]}-{hex32[8:12]}-4{hex32[13:16]}-{variant}{hex32[17:20]}-{hex32[20:32]}"


@dataclass(frozen=True, slots=True)
class Batch:
    gateway_id: str
    entries: list[bytes]
    shipped_ms: int  # when the gateway sent it: the receipt's time


class EventStream:
    """``n`` events of :func:`demo_world`, cut into gateway batches (see the module docstring); the same
    ``seed`` and ``end_ms`` give the same bytes."""

    def __init__(
        self,
        world: World,
        n: int,
        *,
        end_ms: int,
        seed: int = 1,
        rate: float = 120.0,
        batch_max: int = 1000,
        max_age_ms: int = 60_000,
    ) -> None:
        self.world = world
        self.n = n
        self.rate = rate
        self.end_ms = end_ms
        # the arrivals' sum ends before end_ms but for a chance of about 3e-7 (5 standard deviations)
        self.start_ms = end_ms - int((n + 5 * math.sqrt(n)) / rate * 1000) - 2 * JITTER_MS
        self.seed = seed
        self.batch_max = batch_max
        self.max_age_ms = max_age_ms
        self.callers = _Picker(list(CALLER_WEIGHTS), list(CALLER_WEIGHTS.values()))
        self._granted: dict[str, _Picker | None] = {}
        self._refused: dict[str, _Picker | None] = {}
        rank = {a.api: k + 1 for k, a in enumerate(random.Random(seed + 1).sample(world.apis, len(world.apis)))}
        for caller in CALLER_WEIGHTS:
            callable_apis = [a for a in world.apis if a.provider != caller]
            yes = [a for a in callable_apis if (caller, a.asset) in world.grants]
            no = [a for a in callable_apis if (caller, a.asset) not in world.grants]
            self._granted[caller] = _Picker(yes, [1 / rank[a.api] for a in yes]) if yes else None
            self._refused[caller] = _Picker(no, [1 / rank[a.api] for a in no]) if no else None
        self.other_reasons = _Picker([r for r, _ in OTHER_REASONS], [w for _, w in OTHER_REASONS])
        self.statuses = _Picker([s for s, _ in ALLOWED_STATUSES], [w for _, w in ALLOWED_STATUSES])
        identity_rng = random.Random(seed + 2)
        self.identities = {c: [identity_rng.getrandbits(256).to_bytes(32, "big").hex() for _ in range(4)]
                           for c in CALLER_WEIGHTS}  # fmt: skip

    def events(self) -> Iterator[tuple[str, bytes, int]]:
        """(provider, entry without its gateway_seq filled, arrival ms) of each call, in arrival order; the
        gateway's sequence number is a ``{seq}`` placeholder (see :meth:`batches`)."""
        rng = random.Random(self.seed)
        rand, bits, expo = rng.random, rng.getrandbits, rng.expovariate
        lognormal = rng.lognormvariate
        mean_gap_ms = 1000.0 / self.rate
        arrival = float(self.start_ms + JITTER_MS)
        template = _TEMPLATE
        versions = self.world.asset_versions
        grants = self.world.grants
        for _ in range(self.n):
            arrival += expo(1.0) * mean_gap_ms
            caller = self.callers.pick(rand())
            u = rand()
            granted = self._granted[caller]
            refused = self._refused[caller]
            if (u < GRANTED_SHARE and granted is not None) or refused is None:
                assert granted is not None
                api: Api = granted.pick(rand())
                grant = grants[(caller, api.asset)]
                if rand() < OTHER_DENIAL_SHARE:
                    reason: str | None = self.other_reasons.pick(rand())
                    grant_json = f'"{grant}"'
                else:
                    reason, grant_json = None, f'"{grant}"'
            else:
                api = refused.pick(rand())
                reason, grant_json = "no_grant", "null"
            random_hex = f"{bits(832):0208x}"
            if reason is None:
                status = self.statuses.pick(rand())
                decision, reason_json, version = "allow", "null", str(versions[api.asset])
            else:
                status, decision, reason_json, version = 403, "deny", f'"{reason}"', "null"
            time_ms = int(arrival) + int((rand() * 2 - 1) * JITTER_MS)
            latency = int(lognormal(7.0, 0.8))
            entry = template.format(
                api=api.api, asset=api.asset, version=version,
                identity=self.identities[caller][int(random_hex[0], 16) & 3], caller=caller, center=api.center,
                decision=decision, reason=reason_json, event_id=_uuid4(random_hex[:32]),
                gateway=f"{api.provider}/{GATEWAY_NAME}", seq="{seq}", grant=grant_json, latency=latency,
                method=api.method, provider=api.provider, request=random_hex[64:128], response=random_hex[128:192],
                route=api.route, status=status, time_ms=time_ms, trace=random_hex[32:64],
                span=random_hex[192:208], unit=api.unit,
            )  # fmt: skip
            yield api.provider, entry.encode(), int(arrival)

    def batches(self) -> Iterator[Batch]:
        """The events as their gateways ship them: a gateway's batch goes when it holds ``batch_max`` events or
        its oldest is ``max_age_ms`` old (checked as calls arrive); the rest at the end."""
        pending: dict[str, list[bytes]] = {p: [] for p in self.world.providers}
        oldest: dict[str, int] = {}
        seqs = dict.fromkeys(self.world.providers, 0)

        def cut(provider: str, now_ms: int) -> Batch:
            parts = pending[provider]
            pending[provider] = []
            oldest.pop(provider, None)
            first = seqs[provider] + 1
            seqs[provider] += len(parts)
            entries = [p.replace(b"{seq}", b"%d" % (first + k)) for k, p in enumerate(parts)]
            return Batch(f"{provider}/{GATEWAY_NAME}", entries, now_ms + SHIP_DELAY_MS)

        for provider, entry, arrival in self.events():
            pending[provider].append(entry)
            oldest.setdefault(provider, arrival)
            if len(pending[provider]) >= self.batch_max:
                yield cut(provider, arrival)
            for other, since in list(oldest.items()):
                if arrival - since >= self.max_age_ms:
                    yield cut(other, arrival)
        for provider in self.world.providers:
            if pending[provider]:
                yield cut(provider, self.end_ms)


def batch_body(batch: Batch) -> bytes:
    """The batch body as ``notary.sequencer.encode_batch`` would make it from the parsed events (entries are
    JSON objects already)."""
    head = json.dumps({"gateway": batch.gateway_id}, separators=(",", ":"))[:-1] + ',"events":['
    return head.encode() + b",".join(batch.entries) + b"]}"


def check_template(stream: EventStream, count: int = 2000) -> dict[str, Any]:
    """Check that the first ``count`` events validate and are in canonical form; return their mix."""
    decisions: dict[str, int] = {}
    for k, batch in enumerate(stream.batches()):
        for entry in batch.entries:
            event = validate_event(json.loads(entry))
            if canonical_entry(event) != entry:
                raise AssertionError(f"the event template is not canonical: {entry[:200]!r}")
            decisions[event["decision"]] = decisions.get(event["decision"], 0) + 1
        if k * stream.batch_max >= count:
            break
    return decisions
