"""Tenancy: every read path of the explorer, the notary and the chain answers each kind of reader exactly what
docs/confidentiality.md says, through the running demo consortium of this package's ``live`` fixture (shared
with the explorer's API, browser and fuzz tests: this module starts no consortium of its own).

The readers are people with login tokens: the compliance officers of a call's caller (A) and provider (B), of a
firm with no part in it (C), of the operator firm (O), the regulator's inspector (R), and outsiders: no token, a
token forged under a CA made elsewhere with the regulator's org name, and an expired token of a member. The
objects are real: a call from A to B, the demo's grant it ran under (private, as every grant ``init --demo``
makes), a private grant from B to A made here with
``consortium grant create --private``, their transactions and blocks, the call's asset, A's compliance report,
the log's tiles, checkpoints and entry bundles, exports, the explorer's audit events of a query by the
regulator and by A (also as its query audit lists them, with their subject), and the alarm records.

Every GET route of the explorer's and the notary's OpenAPI documents must have a row in :func:`explorer_cases`
or :func:`notary_cases`: a route added without one fails the test. The pages outside those documents (``PAGES``)
must be the same for every reader. The table of docs/confidentiality.md, "Every read path, by reader", names the
test of each path and reader. The chain's JSON-RPC runs as ``consortium
up`` starts it by default, in plain HTTP on loopback, where the page says it serves every block to whoever
reaches it; its members-only rules under ``up --rpc-tls`` are checked by ``tests/integration/chain/
test_rpc_members.py`` and ``tests/integration/cli/test_up_rpc_tls.py``, which need a node started so. What this
module checks of the chain is that a private grant's terms are not in it."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import secrets
import ssl
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from eth_utils.crypto import keccak

from chain.ids import OrgId, Role
from network.description import load_description
from network.grantterms import TermsStore
from network.identity import create_org_identity, issue_identity, user_paths
from network.logins import make_token
from tests.integration.live.consortium import CLI, PASSPHRASE, REGULATOR, Live, cli_env, wait_until
from tests.support.cleartext import (
    needles_of_bytes,
    needles_of_int,
    needles_of_text,
    occurrences,
    word_occurrences,
)

#: The first test's setup may start the shared consortium (``init`` and ``up``, each allowed 240 s on a loaded
#: machine) before this module's world (a private grant, two queries indexed and sequenced).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

API = "/api/v1"


@dataclass(frozen=True)
class Persona:
    label: str
    token: str | None
    org: str | None  # None: an outsider
    regulator: bool = False

    def headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Rule:
    """Who gets 200: the regulator always, a member's people when ``sees`` is None (every member) or names their
    org; any other member gets ``hidden`` (404: as if it did not exist; 403 for entry bundles); an outsider
    gets ``outsider`` (401, or 200 for a liveness probe)."""

    sees: frozenset[str] | None = None
    hidden: int = 404
    outsider: int = 401
    exists: bool = True  # False: an id nothing has, 404 to every reader with a login

    def status(self, who: Persona) -> int:
        if who.org is None:
            return self.outsider
        if not self.exists:
            return 404
        if who.regulator or self.sees is None or who.org in self.sees:
            return 200
        return self.hidden


MEMBERS = Rule()
PUBLIC = Rule(outsider=200)


def parties(*orgs: str) -> Rule:
    return Rule(sees=frozenset(orgs))


#: A check of a 200 answer's body for one reader (a list holds only rows the reader may see, and its own).
Check = Callable[[Persona, httpx.Response], None]


@dataclass(frozen=True)
class Case:
    path: str
    rule: Rule
    params: dict[str, Any] = field(default_factory=dict)
    check: Check | None = None


@dataclass
class World:
    live: Live
    personas: dict[str, Persona]
    operator: str
    call: dict[str, Any]
    grant: dict[str, Any]  # the demo's grant the call ran under (private), as the regulator reads it
    private: dict[str, Any]  # the private grant made here, as the regulator reads it
    terms: dict[str, bytes | int | str]  # its terms and salt
    grant_create_output: str
    asset: dict[str, Any]
    public_asset: str
    regulator_query: str  # event ids of explorer queries: the regulator's and A's
    firm_query: str
    checkpoint_size: int
    chain: str
    job: str  # the tag of a PSI job of PSI_CLIENT with PSI_OWNER
    served: dict[str, bytes] = field(default_factory=dict)  # what non-parties of the private grant were served

    @property
    def a(self) -> str:
        return str(self.call["caller_org"])

    @property
    def b(self) -> str:
        return str(self.call["provider_org"])


# -- the world ------------------------------------------------------------------------------------------------


def forged_token(base: Path) -> str:
    """A regulator's login token from a CA made elsewhere under the regulator's org id."""
    org = OrgId(REGULATOR)
    create_org_identity(base, org, "Forged Supervision", PASSPHRASE.encode())
    issue_identity(base, org, "inspector", PASSPHRASE.encode(), role="regulator", org_roles=Role.REGULATOR)
    return _token(base, REGULATOR, "inspector", datetime.now(UTC), hours=1)


def _token(directory: Path, org: str, name: str, now: datetime, hours: float) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    paths = user_paths(directory, OrgId(org), name)
    key = load_pem_private_key(paths.key.read_bytes(), PASSPHRASE.encode())
    return make_token(paths.cert.read_bytes(), key, hours=hours, now=now)  # type: ignore[arg-type]


def pick_call(live: Live, operator: str) -> dict[str, Any] | None:
    """An allowed call under a grant (the demo's are private) between two firms, neither the operator, whose
    evidence is ready."""
    rows = live.get(live.regulator(), f"{API}/calls", limit=200, decision="allow").json()["calls"]
    for row in reversed(rows):  # the oldest first: anchored soonest
        if row["center"] == "explorer" or not row["grant_id"]:
            continue
        if {row["caller_org"], row["provider_org"]} & {operator, REGULATOR}:
            continue
        if live.get(live.regulator(), f"{API}/calls/{row['event_id']}/evidence").status_code == 200:
            return dict(row)
    return None


def make_private_grant(
    live: Live, chain: str, asset: str, grantor: str, grantee: str
) -> tuple[str, dict[str, Any], str]:
    """``grant create --private``: terms unlike anything else in the consortium (a random purpose and quota, a
    window starting long before the chain and ending at an odd second)."""
    purpose = f"tenancy-{secrets.token_hex(6)}"
    quota = 10**11 + secrets.randbelow(10**11)
    now = datetime.now(UTC).replace(microsecond=0)
    not_before = now - timedelta(days=400, seconds=secrets.randbelow(86_400))
    expires = now + timedelta(days=500, seconds=secrets.randbelow(86_400))
    made = subprocess.run(
        [*CLI, "--dir", str(live.directory), "--chain-url", chain, "grant", "create", asset, "--to", grantee,
         "--purpose", purpose, "--not-before", not_before.isoformat().replace("+00:00", "Z"),
         "--expires", expires.isoformat().replace("+00:00", "Z"), "--quota", str(quota), "--private",
         "--as", grantor],
        env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    found = re.search(r"private grant (0x[0-9a-f]{64})", made.stdout)
    assert found, made.stdout
    (record,) = [r for r in TermsStore(live.directory, grantor).records() if r.terms.purpose == purpose]
    terms = {
        "purpose": purpose,
        "quota": quota,
        "not_before": int(not_before.timestamp()),
        "expires_at": int(expires.timestamp()),
        "salt": bytes(record.terms.salt),
    }
    assert (record.terms.quota, record.terms.not_before, record.terms.expires_at) == (
        quota, terms["not_before"], terms["expires_at"],
    )  # fmt: skip
    return found.group(1), terms, made.stdout


#: The demo's PSI job: jinghua-sec (the client) finds the customers it shares with yanshan-sec (the owner).
PSI_CLIENT, PSI_OWNER = "jinghua-sec", "yanshan-sec"


def run_psi_job(live: Live, chain: str) -> str:
    """``privacy run`` of the demo's identifier set through the owner's gateway; the job's tag."""
    ids = live.directory / "orgs" / PSI_CLIENT / "privacy" / "demo-customers.txt"
    made = subprocess.run(
        [*CLI, "--dir", str(live.directory), "--chain-url", chain, "privacy", "run", "customer-ids",
         "--purpose", "aml-screening", "--ids", str(ids), "--json", "--as", PSI_CLIENT],
        env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return str(json.loads(made.stdout)["tag"])


def ready(live: Live, event_id: str, regulator: Persona) -> bool:
    indexed = live.get(live.regulator(), f"{API}/calls/{event_id}").status_code == 200
    return indexed and httpx.get(f"{live.notary}/v1/receipts/{event_id}", headers=regulator.headers()).is_success


@pytest.fixture(scope="module")
def world(live: Live, tmp_path_factory: pytest.TempPathFactory) -> World:
    description = load_description(live.directory)
    operator = next(m.org for m in description.members if Role.OPERATOR in m.roles)
    call = wait_until(partial(pick_call, live, operator), 120, "an anchored call between two firms, not the operator")
    a, b = call["caller_org"], call["provider_org"]
    firms = sorted(t.split("@")[1] for t in live.tokens if t.startswith("compliance@"))
    c = next(o for o in firms if o not in {a, b, operator, REGULATOR})
    expired = _token(live.directory, c, "compliance", datetime.now(UTC) - timedelta(hours=3), hours=1)
    personas = {
        "A": Persona("A", live.tokens[f"compliance@{a}"], a),
        "B": Persona("B", live.tokens[f"compliance@{b}"], b),
        "C": Persona("C", live.tokens[f"compliance@{c}"], c),
        "O": Persona("O", live.tokens[f"compliance@{operator}"], operator),
        "R": Persona("R", live.tokens[live.regulator()], REGULATOR, regulator=True),
        "none": Persona("none", None, None),
        "forged": Persona("forged", forged_token(tmp_path_factory.mktemp("forger")), None),
        "expired": Persona("expired", expired, None),
    }
    regulator = live.regulator()
    grant = wait_until(
        lambda: (r := live.get(regulator, f"{API}/grants/{call['grant_id']}")).status_code == 200 and r,
        60,
        "the call's grant in the explorer",
    ).json()
    assert {grant["grantor"], grant["grantee"]} == {a, b}, grant
    chain = f"http://127.0.0.1:{urlsplit(live.notary).port - 1}"  # type: ignore[operator]
    pgid, terms, output = make_private_grant(live, chain, call["asset_id"], b, a)
    private = wait_until(
        lambda: (r := live.get(regulator, f"{API}/grants/{pgid}")).status_code == 200 and r.json()["history"] and r,
        60,
        "the private grant in the explorer",
    ).json()
    assets = live.get(regulator, f"{API}/assets").json()["assets"]
    asset = next(x for x in assets if x["asset"] == call["asset_id"])
    public_asset = next(x["asset"] for x in assets if not x["private"])
    regulator_query = live.get(regulator, f"{API}/calls/{call['event_id']}").headers["consortium-event-id"]
    firm_query = live.get(f"compliance@{a}", f"{API}/calls/{call['event_id']}").headers["consortium-event-id"]
    # every firm reader's own queries are in the explorer's index before the walk searches for them
    own_queries = [
        live.get(f"compliance@{org}", f"{API}/members").headers["consortium-event-id"] for org in (b, c, operator)
    ]
    for eid in (regulator_query, firm_query, *own_queries):  # indexed by the explorer, sequenced by the notary
        wait_until(partial(ready, live, eid, personas["R"]), 60, "a query in the explorer's index and the log")
    job = run_psi_job(live, chain)
    wait_until(lambda: live.get(regulator, f"{API}/jobs/{job}").status_code == 200, 60, "the PSI job in the explorer")
    size = live.get(regulator, f"{API}/checkpoints", limit=1).json()["checkpoints"][0]["size"]
    return World(
        live, personas, operator, call, grant, private, terms, output, asset, public_asset, regulator_query,
        firm_query, int(size), chain, job,
    )  # fmt: skip


# -- what a list may hold ------------------------------------------------------------------------------------


def sees_call_row(who: Persona, row: dict[str, Any]) -> bool:
    """docs/confidentiality.md: a call to its caller and provider; an explorer query to the querying firm only
    (its provider is the operator, which does not see it); everything to the regulator."""
    if who.regulator:
        return True
    if row["center"] == "explorer":
        return bool(row["caller_org"] == who.org)
    return who.org in (row["caller_org"], row["provider_org"])


def check_calls(w: World, rows: list[dict[str, Any]], who: Persona) -> None:
    hidden = [r["event_id"] for r in rows if not sees_call_row(who, r)]
    assert not hidden, (who.label, hidden[:5])
    ids = {r["event_id"] for r in rows}
    if who.label in ("A", "B", "R"):
        assert w.call["event_id"] in ids, who.label  # the own call is there: not vacuous
    else:
        assert w.call["event_id"] not in ids, who.label
    check_regulator_marks(w, rows, who)


def check_regulator_marks(w: World, rows: list[dict[str, Any]], who: Persona) -> None:
    """A call row's ``regulator_queries`` (search, CSV, JSON; an evidence zip's rows are entries and have none):
    under the demo's ``audit`` policy (off) a firm is shown none, not even of its own call, which the regulator
    read; the regulator is shown its query of the call."""
    for r in rows:
        if "regulator_queries" not in r:
            continue
        marks = r["regulator_queries"]
        shown = marks.split() if isinstance(marks, str) else [q["event_id"] for q in marks]
        if not who.regulator:
            assert shown == [], (who.label, r["event_id"], shown)
        elif r["event_id"] == w.call["event_id"]:
            assert w.regulator_query in shown, (who.label, shown)


def window(w: World) -> dict[str, Any]:
    """Filters that match the call (and its neighbours of the same second) for whoever may see it."""
    t = int(w.call["time_ms"])
    return {"from": t - 1000, "to": t + 1000}


def check_search(w: World) -> Check:
    def check(who: Persona, answer: httpx.Response) -> None:
        check_calls(w, answer.json()["calls"], who)

    return check


def check_csv(w: World) -> Check:
    def check(who: Persona, answer: httpx.Response) -> None:
        check_calls(w, list(csv.DictReader(io.StringIO(answer.text))), who)

    return check


def check_json_export(w: World) -> Check:
    def check(who: Persona, answer: httpx.Response) -> None:
        check_calls(w, json.loads(answer.text), who)

    return check


def check_zip(w: World) -> Check:
    """``consortium-keys.json`` and one ``<index>-<event id>.json`` bundle per call; each entry names its
    parties as a call row does."""

    def check(who: Persona, answer: httpx.Response) -> None:
        rows = []
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            for name in archive.namelist():
                if name == "consortium-keys.json":
                    continue
                bundle = json.loads(archive.read(name))
                event = json.loads(base64.b64decode(bundle["entry"]))
                assert name.endswith(f"-{bundle['event_id']}.json") and event["event_id"] == bundle["event_id"]
                rows.append({"center": "", **event})
        check_calls(w, rows, who)

    return check


def check_grants(w: World) -> Check:
    def check(who: Persona, answer: httpx.Response) -> None:
        rows = answer.json()["grants"]
        for row in rows:
            if row["state"] == "private":  # its row to the grantor, the grantee the log shows and the regulator
                assert who.regulator or who.org in (row["grantor"], row["grantee"]), (who.label, row)
                assert all(row.get(k) is None for k in ("purpose", "quota", "not_before", "expires_at")), row
            else:
                assert who.regulator or who.org in (row["grantor"], row["grantee"]), (who.label, row)
        ids = {r["grant_id"] for r in rows}
        assert (w.grant["grant_id"] in ids) == (who.label in ("A", "B", "R")), who.label
        assert (w.private["grant_id"] in ids) == (who.label in ("B", "R")), who.label

    return check


def check_me(who: Persona, answer: httpx.Response) -> None:
    assert (answer.json()["org"], answer.json()["regulator"]) == (who.org, who.regulator)


def own_gateways(ids: list[str], who: Persona) -> None:
    assert who.regulator or all(g.split("/")[0] == who.org for g in ids), (who.label, ids)


def check_gateways(who: Persona, answer: httpx.Response) -> None:
    body = answer.json()
    ids = [g["gateway"] for g in body.get("gaps", [])] + [g["gateway"] for g in body.get("gateways", [])]
    ids += list(body.get("last_seq", {}))
    own_gateways(ids, who)


def check_alarms(who: Persona, answer: httpx.Response) -> None:
    body = answer.json()
    for alarm in (body["active"] or []) + (body["resolved"] or []):  # null: not known (source unreachable)
        if alarm["subject"].startswith("gateway/"):
            assert who.regulator or alarm["org"] == who.org, (who.label, alarm)


def check_alarm_records(w: World) -> Check:
    """The audit log's alarm records: a firm's people those about its components, the operator's and the
    regulator's people all (docs/alarms.md)."""

    def check(who: Persona, answer: httpx.Response) -> None:
        for record in answer.json()["records"]:
            assert who.regulator or who.org in (w.operator, record["org"]), (who.label, record)

    return check


def check_queries(w: World) -> Check:
    """The query audit: a firm's people their firm's queries (the demo's ``audit`` policy is off), the regulator's
    every one; the regulator's and A's queries of the call, each with the call's firms as its subject."""

    def check(who: Persona, answer: httpx.Response) -> None:
        rows = {q["event_id"]: q for q in answer.json()["queries"]}
        assert who.regulator or all(q["caller_org"] == who.org for q in rows.values()), (who.label, list(rows))
        mine = {"R": {w.regulator_query, w.firm_query}, "A": {w.firm_query}}.get(who.label, set())
        assert {w.regulator_query, w.firm_query} & set(rows) == mine, (who.label, list(rows))
        for q in mine:
            assert rows[q]["subject"] == sorted({w.a, w.b}) and rows[q]["api"] == "calls.get", (who.label, rows[q])

    return check


def check_transaction(parties_of: frozenset[str]) -> Check:
    """Every member reads a transaction; its decoded arguments and events only its data's parties."""

    def check(who: Persona, answer: httpx.Response) -> None:
        tx = answer.json()
        if who.regulator or who.org in parties_of:
            assert not tx.get("redacted") and tx["args"], (who.label, tx)
        else:
            assert tx["redacted"] is True and tx["args"] is None, (who.label, tx)
            assert all(e["args"] is None for e in tx["events"]), (who.label, tx)

    return check


def check_block(tx_hash: str, parties_of: frozenset[str]) -> Check:
    inner = check_transaction(parties_of)

    def check(who: Persona, answer: httpx.Response) -> None:
        (tx,) = [t for t in answer.json()["transactions"] if t["hash"] == tx_hash]
        inner(who, httpx.Response(200, json=tx))

    return check


def check_healthz(who: Persona, answer: httpx.Response) -> None:
    """A liveness answer and nothing more to an outsider; the figures to members."""
    if who.org is None:
        assert answer.json() == {"ok": True}, (who.label, answer.text)
    else:
        assert answer.json()["ok"] is True and len(answer.json()) > 1, (who.label, answer.text)


# -- the routes ------------------------------------------------------------------------------------------------


def explorer_cases(w: World) -> dict[str, list[Case]]:
    """Per OpenAPI path of the explorer, the objects to read and who may read them (docs/confidentiality.md)."""
    call, eid, a, b = w.call, w.call["event_id"], w.a, w.b
    asset = w.asset
    asset_rule = MEMBERS
    if asset["private"]:  # a private asset's detail: its owner, its grantees (a private grant's: once the log
        # shows it, as the regulator's rows do) and the regulator
        grants = w.live.get(w.live.regulator(), f"{API}/grants", asset=asset["asset"]).json()["grants"]
        asset_rule = parties(asset["owner"], *(g["grantee"] for g in grants if g["grantee"]))
    grant_tx, private_tx = w.grant["history"][0], w.private["history"][0]
    # a private grant's transactions name its grantor only: their decoded arguments to it and the regulator
    grant_parties = frozenset({w.grant["grantor"]}) if w.grant.get("private") else frozenset({a, b})
    private_parties = frozenset({b})
    per_call = [(eid, parties(a, b)), (w.regulator_query, parties()), (w.firm_query, parties(a))]
    queried = [w.live.get(w.live.regulator(), f"{API}/calls/{q}").json()["call"]["time_ms"] for q, _ in per_call[1:]]
    around = {"from": min(queried) - 1000, "to": max(queried) + 1000, "limit": 200}  # the two queries' second
    return {
        f"{API}/me": [Case(f"{API}/me", MEMBERS, check=check_me)],
        f"{API}/keys": [Case(f"{API}/keys", MEMBERS)],
        f"{API}/checkpoints": [Case(f"{API}/checkpoints", MEMBERS)],
        f"{API}/anchors": [Case(f"{API}/anchors", MEMBERS)],
        f"{API}/gaps": [Case(f"{API}/gaps", MEMBERS, check=check_gateways)],
        f"{API}/members": [Case(f"{API}/members", MEMBERS)],
        f"{API}/members/{{org}}": [Case(f"{API}/members/{a}", MEMBERS), Case(f"{API}/members/{REGULATOR}", MEMBERS)],
        f"{API}/witnesses": [Case(f"{API}/witnesses", MEMBERS)],
        f"{API}/assets": [Case(f"{API}/assets", MEMBERS)],
        f"{API}/assets/{{asset_id}}": [
            Case(f"{API}/assets/{asset['asset']}", asset_rule),
            Case(f"{API}/assets/{w.public_asset}", MEMBERS),
        ],
        f"{API}/services": [Case(f"{API}/services", MEMBERS)],
        f"{API}/grants": [Case(f"{API}/grants", MEMBERS, check=check_grants(w))],
        f"{API}/grants/{{grant_id}}": [
            Case(f"{API}/grants/{call['grant_id']}", parties(a, b)),
            # its grantee's people once the log shows the grantee calling under it: here it made no call
            Case(f"{API}/grants/{w.private['grant_id']}", parties(b)),
        ],
        f"{API}/calls": [
            Case(f"{API}/calls", MEMBERS, {"limit": 200, **window(w)}, check_search(w)),
            Case(f"{API}/calls", MEMBERS, {"limit": 200, "caller": a, "provider": b, **window(w)}, check_search(w)),
            Case(f"{API}/calls", MEMBERS, {"limit": 200, "center": "explorer"}, check_search_rows),
        ],
        f"{API}/calls/{{event_id}}": [Case(f"{API}/calls/{e}", rule) for e, rule in per_call],
        f"{API}/calls/{{event_id}}/provenance": [Case(f"{API}/calls/{e}/provenance", r) for e, r in per_call],
        f"{API}/calls/{{event_id}}/evidence": [Case(f"{API}/calls/{e}/evidence", r) for e, r in per_call],
        f"{API}/exports/calls.csv": [Case(f"{API}/exports/calls.csv", MEMBERS, window(w), check_csv(w))],
        f"{API}/exports/calls.json": [Case(f"{API}/exports/calls.json", MEMBERS, window(w), check_json_export(w))],
        f"{API}/exports/evidence.zip": [
            Case(f"{API}/exports/evidence.zip", MEMBERS, {"limit": 20, "caller": a, **window(w)}, check_zip(w))
        ],
        f"{API}/reports/{{org}}": [
            Case(f"{API}/reports/{a}", parties(a), {"from": 0, "to": 2**52, "format": fmt}) for fmt in ("json", "csv")
        ],
        f"{API}/blocks": [Case(f"{API}/blocks", MEMBERS)],
        f"{API}/blocks/{{number}}": [
            Case(
                f"{API}/blocks/{grant_tx['block_number']}",
                MEMBERS,
                check=check_block(grant_tx["tx_hash"], grant_parties),
            ),
            Case(
                f"{API}/blocks/{private_tx['block_number']}",
                MEMBERS,
                check=check_block(private_tx["tx_hash"], private_parties),
            ),
        ],
        f"{API}/transactions/{{tx_hash}}": [
            Case(f"{API}/transactions/{grant_tx['tx_hash']}", MEMBERS, check=check_transaction(grant_parties)),
            Case(f"{API}/transactions/{private_tx['tx_hash']}", MEMBERS, check=check_transaction(private_parties)),
        ],
        f"{API}/validators": [Case(f"{API}/validators", MEMBERS)],
        f"{API}/validators/equivocations": [Case(f"{API}/validators/equivocations", MEMBERS)],
        f"{API}/health": [Case(f"{API}/health", MEMBERS, check=check_gateways)],
        f"{API}/alarms": [Case(f"{API}/alarms", MEMBERS, check=check_alarms)],
        f"{API}/alarms/records": [Case(f"{API}/alarms/records", MEMBERS, {"limit": 200}, check_alarm_records(w))],
        f"{API}/queries": [Case(f"{API}/queries", MEMBERS, around, check_queries(w))],
        f"{API}/dashboard": [Case(f"{API}/dashboard", MEMBERS)],
        f"{API}/jobs/{{tag}}": [
            Case(f"{API}/jobs/{w.job}", parties(PSI_CLIENT, PSI_OWNER), check=check_job_summary),
            Case(f"{API}/jobs/{'0' * 64}", Rule(exists=False), check=check_no_such_job),
        ],
        "/healthz": [Case("/healthz", PUBLIC, check=check_healthz)],
    }


def check_job_summary(who: Persona, answer: httpx.Response) -> None:
    """The two firms and the regulator read the job's sizes and result from the log (the record step's summary), with
    no job id, purpose or identifier in it."""
    job = answer.json()
    summary, text = job["summary"], job["summary_json"]
    assert summary is not None and json.loads(text) == summary, (who.label, job)
    assert (summary["client"]["org"], summary["server"]["org"]) == (PSI_CLIENT, PSI_OWNER), who.label
    assert summary["grant_id"] == job["grant_id"], who.label
    assert summary["client"]["input_count"] > 0 and summary["server"]["input_count"] > 0, (who.label, summary)
    assert 0 < summary["result"]["count"] <= summary["client"]["input_count"], (who.label, summary)
    assert "job_id" not in summary and "purpose" not in summary and "aml-screening" not in text, who.label


def check_no_such_job(who: Persona, answer: httpx.Response) -> None:
    raise AssertionError(f"{who.label} was shown a job of an unknown tag: {answer.text[:200]}")


def check_search_rows(who: Persona, answer: httpx.Response) -> None:
    rows = answer.json()["calls"]
    assert all(sees_call_row(who, r) for r in rows), who.label
    if who.org is not None and not who.regulator:  # its own queries are there: every request of it is one
        assert any(r["caller_org"] == who.org for r in rows), who.label


def notary_cases(w: World) -> dict[str, list[Case]]:
    """Per OpenAPI path of the notary, the same (docs/confidentiality.md, *The notary*)."""
    eid, a, b, size = w.call["event_id"], w.a, w.b, w.checkpoint_size
    per_event = [(eid, parties(a, b)), (w.regulator_query, parties()), (w.firm_query, parties(a))]
    full = size // 256 * 256
    hashes = "tile/0/000" if full else f"tile/0/000.p/{size}"
    bundle = "tile/entries/000" if full else f"tile/entries/000.p/{size}"
    return {
        "/v1/receipts/{event_id}": [Case(f"/v1/receipts/{e}", r) for e, r in per_event],
        "/v1/entries/{event_id}": [Case(f"/v1/entries/{e}", r) for e, r in per_event],
        "/v1/evidence/{event_id}": [Case(f"/v1/evidence/{eid}", parties(a, b))],
        "/v1/events": [
            Case("/v1/events", MEMBERS, {"from": w.call["index"], "limit": 1}, check=check_event_list(w)),
            Case("/v1/events", MEMBERS, {"own": "true", "limit": 1}),
            Case("/v1/events", Rule(sees=frozenset({a}), hidden=403), {"org": a, "limit": 1}),
        ],
        "/v1/proofs/inclusion": [
            Case("/v1/proofs/inclusion", parties(a, b), {"event_id": eid}),
            Case("/v1/proofs/inclusion", MEMBERS, {"index": w.call["index"]}),
        ],
        "/v1/proofs/consistency": [Case("/v1/proofs/consistency", MEMBERS, {"from": 1, "to": size})],
        "/v1/checkpoints": [Case("/v1/checkpoints", MEMBERS)],
        "/v1/checkpoints/{size}": [Case(f"/v1/checkpoints/{size}", MEMBERS)],
        "/v1/anchors": [Case("/v1/anchors", MEMBERS)],
        "/v1/gaps": [Case("/v1/gaps", MEMBERS, check=check_gateways)],
        "/v1/alarms": [Case("/v1/alarms", MEMBERS)],
        "/checkpoint": [Case("/checkpoint", MEMBERS)],
        "/tile/{path}": [Case(f"/{hashes}", MEMBERS), Case(f"/{bundle}", Rule(sees=frozenset(), hidden=403))],
        "/healthz": [Case("/healthz", PUBLIC, check=check_healthz)],
        "/metrics": [Case("/metrics", MEMBERS)],
    }


def check_event_list(w: World) -> Check:
    """A page of ``/v1/events`` from the call's index, one event long: the call is on it for its two parties and
    the regulator, and for no other reader (a member's page holds its own org's events only)."""

    def check(who: Persona, answer: httpx.Response) -> None:
        ids = {event["event_id"] for event in answer.json()["events"]}
        assert (w.call["event_id"] in ids) == (who.regulator or who.org in (w.a, w.b)), (who.label, ids)

    return check


def get_routes(base: str) -> set[str]:
    spec = httpx.get(base + "/openapi.json", timeout=30.0).json()
    return {path for path, methods in spec["paths"].items() if "get" in methods}


def walk(w: World, base: str, table: dict[str, list[Case]]) -> list[str]:
    """Every case for every reader; the failures as text. Answers to readers other than the private grant's
    parties (B, A, the regulator) are kept for the clear-text scan."""
    failures = []
    with httpx.Client(base_url=base, timeout=60.0) as client:
        for route, cases in table.items():
            assert cases, route
            for case in cases:
                for who in w.personas.values():
                    answer = client.get(case.path, params=case.params, headers=who.headers())
                    want = case.rule.status(who)
                    where = f"{who.label} GET {base}{case.path} {case.params or ''}"
                    if answer.status_code != want:
                        failures.append(f"{where}: {answer.status_code}, expected {want}: {answer.text[:200]}")
                        continue
                    if who.label not in ("A", "B", "R"):
                        w.served[where] = answer.content
                    if answer.status_code == 200 and case.check is not None:
                        try:
                            case.check(who, answer)
                        except AssertionError as exc:
                            failures.append(f"{where}: {exc}")
    return failures


# -- the tests ---------------------------------------------------------------------------------------------


def test_every_explorer_route_answers_each_reader_what_the_model_says(world: World) -> None:
    table = explorer_cases(world)
    routes = get_routes(world.live.url)
    assert routes - set(table) == set(), "explorer routes with no row in explorer_cases"
    assert set(table) - routes == set(), "rows of explorer_cases for routes the explorer no longer serves"
    failures = walk(world, world.live.url, table)
    assert not failures, "\n".join(failures)


def test_every_notary_route_answers_each_reader_what_the_model_says(world: World) -> None:
    table = notary_cases(world)
    routes = get_routes(world.live.notary)
    assert routes - set(table) == set(), "notary routes with no row in notary_cases"
    assert set(table) - routes == set(), "rows of notary_cases for routes the notary no longer serves"
    failures = walk(world, world.live.notary, table)
    assert not failures, "\n".join(failures)


def test_the_demo_chain_is_plain_http_on_loopback_and_serves_blocks_to_whoever_reaches_it(world: World) -> None:
    """Without ``--rpc-tls`` the page says the nodes' JSON-RPC serves every block to whoever can reach it, on
    loopback: so they must be on loopback, and that is all they promise (the private grant's terms are not in
    what they serve: the next test)."""
    description = load_description(world.live.directory)
    nodes = json.loads((world.live.directory / "nodes" / "nodes.json").read_text())
    urls = [description.chain_url, *(n["rpc_url"] for n in nodes["nodes"])]
    assert len(urls) > 1 and all(urlsplit(u).scheme == "http" and urlsplit(u).hostname == "127.0.0.1" for u in urls)
    for url in urls:
        assert int(rpc(url, "eth_blockNumber", []), 16) > 0, url
    person = user_paths(world.live.directory, OrgId(world.a), "compliance")
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    tls.load_cert_chain(person.cert, person.key, password=PASSPHRASE)
    for node in nodes["nodes"]:  # the peer routes: no TLS handshake without a certificate; a person's: 403
        with pytest.raises(httpx.TransportError):
            httpx.get(node["peer_url"] + "/qbft/v1/status", verify=False, timeout=10.0)
        assert httpx.get(node["peer_url"] + "/qbft/v1/status", verify=tls, timeout=10.0).status_code == 403


def rpc(url: str, method: str, params: list[Any]) -> Any:
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30.0)
    body.raise_for_status()
    return body.json()["result"]


def chain_reads(w: World) -> dict[str, bytes]:
    """What a node serves anyone over plain HTTP about the private grant: its block and the next ones with full
    transactions, the receipts of every transaction of its block, and every log of the contract."""
    served = {}
    first = int(w.private["history"][0]["block_number"])
    head = int(rpc(w.chain, "eth_blockNumber", []), 16)
    for number in range(first, min(head, first + 3) + 1):
        block = rpc(w.chain, "eth_getBlockByNumber", [hex(number), True])
        served[f"chain block {number}"] = json.dumps(block).encode()
        if number == first:
            for tx in block["transactions"]:
                receipt = rpc(w.chain, "eth_getTransactionReceipt", [tx["hash"]])
                served[f"chain receipt {tx['hash']}"] = json.dumps(receipt).encode()
    address = next(iter(rpc(w.chain, "eth_getTransactionReceipt", [w.private["history"][0]["tx_hash"]])["logs"]))[
        "address"
    ]
    logs = rpc(w.chain, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": address}])
    assert logs
    served["chain logs of AccessGrants"] = json.dumps(logs).encode()
    return served


def service_logs(w: World) -> dict[str, bytes]:
    """The logs of every process ``up`` runs (notary, explorer, witnesses, gateways, nodes, demo) and its own
    console: the operator's, and the other firms' of their gateways; the private grant's parties' own files and
    the regulator's are left out."""
    mine = {w.a, w.b, REGULATOR}
    served = {"consortium up's console": w.live.up.output().encode()}
    for path in sorted(w.live.directory.rglob("*.log")):
        relative = path.relative_to(w.live.directory)
        if relative.parts[0] == "orgs" and relative.parts[1] in mine:
            continue
        served[f"log {relative}"] = path.read_bytes()
    assert len(served) > 3, served.keys()
    return served


def test_a_private_grants_grantee_opens_its_page_with_its_terms_and_nobody_else_does(world: World) -> None:
    """Before any call under it, the grantee's people (A) open the private grant's page, list it among their
    grants and see it under its asset's detail, by sending the salt and purpose of their terms
    (``consortium-grant-opening``); the same opening gets another firm, the operator's people and outsiders what
    they get without it (for the grant's page: what a grant that does not exist gets); a forged one gets A
    nothing. The terms scan of the next test then finds the salt in no service's log."""
    w = world
    url = f"{w.live.url}{API}/grants/{w.private['grant_id']}"
    salt, purpose = w.terms["salt"], w.terms["purpose"]
    assert isinstance(salt, bytes) and isinstance(purpose, str), w.terms
    opening = f"0x{salt.hex()} {purpose}"
    forged = f"0x{secrets.token_hex(32)} {purpose}"
    with httpx.Client(timeout=30.0) as client:

        def get(label: str, header: str | None) -> httpx.Response:
            extra = {} if header is None else {"consortium-grant-opening": header}
            return client.get(url, headers={**w.personas[label].headers(), **extra})

        assert get("A", None).status_code == 404  # the log shows no call of A's under it
        answer = get("A", opening)
        assert answer.status_code == 200, answer.text
        row = answer.json()
        assert (row["grantee"], row["grantor"], row["purpose"], row["quota"]) == (w.a, w.b, None, None)
        assert salt.hex() not in answer.text
        assert get("A", forged).status_code == 404
        assert get("A", opening[2:]).status_code == 422  # malformed: no 0x
        for label in ("C", "O"):
            assert get(label, opening).status_code == 404, label
            assert get(label, opening).json() == get(label, None).json(), label
        for label in ("none", "forged", "expired"):
            assert get(label, opening).status_code == 401, label
        assert get("B", opening).json()["grantee"] is None  # the grantor's view is the log's: no call yet

        def listed(label: str, header: str | None) -> dict[str, Any]:
            extra = {} if header is None else {"consortium-grant-opening": header}
            answer = client.get(f"{w.live.url}{API}/grants", headers={**w.personas[label].headers(), **extra})
            assert answer.status_code == 200, (label, answer.text)
            assert salt.hex() not in answer.text and purpose not in answer.text
            return {g["grant_id"]: g["grantee"] for g in answer.json()["grants"]}

        # the grants list: A's holds the grant with A's opening (and another that opens nothing), no one else's
        gid = w.private["grant_id"]
        assert gid not in listed("A", None)
        assert listed("A", f"{forged}, {opening}")[gid] == w.a
        for label in ("C", "O"):
            assert gid not in listed(label, opening), label
        for label in ("B", "R"):
            assert listed(label, opening)[gid] is None, label
        for label in ("none", "forged", "expired"):
            refused = client.get(
                f"{w.live.url}{API}/grants",
                headers={**w.personas[label].headers(), "consortium-grant-opening": opening},
            )
            assert refused.status_code == 401, label

        # the asset's detail takes the same openings by the same rule: the grant under its asset for A with its
        # opening (before any call); another firm and the operator's people get what they get without one
        asset_url = f"{w.live.url}{API}/assets/{w.call['asset_id']}"

        def under_asset(label: str, header: str | None) -> tuple[int, dict[str, Any]]:
            extra = {} if header is None else {"consortium-grant-opening": header}
            answer = client.get(asset_url, headers={**w.personas[label].headers(), **extra})
            assert salt.hex() not in answer.text and purpose not in answer.text, label
            if answer.status_code != 200:
                return answer.status_code, {}
            return 200, {g["grant_id"]: g for g in answer.json()["grants"]}

        status, grants = under_asset("A", None)  # A's demo grant of the asset: A sees the asset's detail
        assert status == 200 and gid not in grants, (status, list(grants))
        status, grants = under_asset("A", f"{forged}, {opening}")
        assert status == 200 and grants[gid]["grantee"] == w.a and grants[gid]["grantor"] == w.b, grants.get(gid)
        assert all(grants[gid].get(k) is None for k in ("purpose", "quota", "not_before", "expires_at")), grants[gid]
        assert under_asset("A", forged)[1].keys() == under_asset("A", None)[1].keys()
        for label in ("C", "O"):
            plain, opened = under_asset(label, None), under_asset(label, opening)
            assert opened[0] == plain[0] and gid not in opened[1] and opened[1].keys() == plain[1].keys(), label
        for label in ("B", "R"):
            status, grants = under_asset(label, opening)
            assert status == 200 and grants[gid]["grantee"] is None, label  # the log's view: no call yet
        for label in ("none", "forged", "expired"):
            assert under_asset(label, opening)[0] == 401, label


#: The pages outside the OpenAPI documents, and whether an outsider gets them: the explorer's web page, its
#: scripts and OpenAPI document (to anyone), its API docs page (under ``/api/``: behind the login, as every
#: ``/api`` path), the notary's OpenAPI document and docs page (to anyone).
PAGES = {
    "explorer": {
        "/": True, "/static/index.html": True, "/static/app.js": True, "/static/openings.js": True,
        "/openapi.json": True, "/api/docs": False,
    },
    "notary": {"/openapi.json": True, "/docs": True},
}  # fmt: skip


def test_the_pages_outside_the_apis_are_the_same_for_every_reader(world: World) -> None:
    """docs/confidentiality.md: the web page, its scripts and the API documents hold no one's data: each answer
    is byte for byte the same for every reader it is served to (the web page asks for a login before it reads
    anything), and an outsider gets it or, under the explorer's ``/api/``, a 401. The answers join the clear-text
    scan of the next test."""
    bases = {"explorer": world.live.url, "notary": world.live.notary}
    with httpx.Client(timeout=30.0) as client:
        for service, paths in PAGES.items():
            for path, to_outsiders in paths.items():
                seen = {}
                for who in world.personas.values():
                    answer = client.get(bases[service] + path, headers=who.headers())
                    want = 200 if who.org is not None or to_outsiders else 401
                    assert answer.status_code == want, (who.label, service, path, answer.status_code)
                    if answer.status_code == 200:
                        seen[who.label] = answer.content
                    if who.label not in ("A", "B", "R"):
                        world.served[f"{who.label} GET {bases[service]}{path}"] = answer.content
                assert len(seen) >= 5 and len(set(seen.values())) == 1, (service, path, "differs by reader")


def test_a_private_grants_terms_reach_no_non_party(world: World) -> None:
    """Grantee, purpose, window, quota and salt of a private grant appear in nothing served to another firm, the
    operator's people or an outsider: explorer and notary answers (every route above), the chain's blocks,
    transactions, receipts and logs, and the services' logs. The needles do find the terms where they are: in
    the grantor's terms store and its own ``grant create`` output."""
    if not world.served:  # the walks of the two tests above fill it; run alone, walk here
        walk(world, world.live.url, explorer_cases(world))
        walk(world, world.live.notary, notary_cases(world))
    terms = world.terms
    needles = {
        "purpose": needles_of_text(str(terms["purpose"])),
        "quota": needles_of_int(int(terms["quota"])),
        "not_before": needles_of_int(int(terms["not_before"])),
        "expires_at": needles_of_int(int(terms["expires_at"])),
        "salt": needles_of_bytes(bytes(terms["salt"])),  # type: ignore[arg-type]
    }
    store = {str(p): p.read_bytes() for p in (world.live.directory / "orgs" / world.b / "grant-terms").iterdir()}
    assert len(occurrences(store, needles)) == len(needles), "the needles miss the terms in the grantor's store"
    assert occurrences({"grant create": world.grant_create_output.encode()}, {"purpose": needles["purpose"]})
    served = {**world.served, **chain_reads(world), **service_logs(world)}
    assert len(served) > 100, len(served)
    leaks = occurrences(served, needles)
    assert not leaks, "\n".join(leaks)
    # the grantee's name is in many answers (it is a member); in the private grant's calldata and events it is not
    grantee = world.a.encode().ljust(32, b"\0").hex()
    tx = rpc(world.chain, "eth_getTransactionByHash", [world.private["history"][0]["tx_hash"]])
    receipt = rpc(world.chain, "eth_getTransactionReceipt", [tx["hash"]])
    assert grantee not in tx["input"] and grantee not in json.dumps(receipt["logs"])


def demo_terms(w: World) -> list[Any]:
    """The terms of the grants ``init --demo`` made (catalogue and PSI): every one is private, and the regulator's
    terms store holds them (the demo hands them to grantor, grantee and regulator)."""
    records = [r for r in TermsStore(w.live.directory, REGULATOR).records() if r.grant_id is not None]
    assert len(records) >= 22, len(records)  # the catalogue's 21 and the PSI job's
    return records


def test_the_demos_grants_are_private_and_their_terms_reach_no_non_party(world: World) -> None:
    """The grants the demo makes are private: on chain (blocks, receipts, every AccessGrants log) none of their
    grantees, purposes, windows, quotas or salts; the explorer shows each to its grantor, the regulator and the
    grantee the log shows, never with its terms, and to another firm, the operator's people and outsiders not at
    all; their salts are in nothing served to a non-party (the walks above, a non-party's own evidence bundles
    and evidence zip) and in no service's log. The grantor's, grantee's and regulator's stores hold the terms
    (the needles find them there)."""
    w = world
    records = demo_terms(w)
    regulator = w.live.regulator()
    words: dict[str, list[bytes]] = {}  # what the chain must not hold: 32-byte ABI words and the salts
    grantees: dict[str, list[bytes]] = {}  # and, in a grant's own transaction and receipt, its grantee's name
    salts: dict[str, list[bytes]] = {}
    creations: dict[str, str] = {}
    for r in records:
        t, gid = r.terms, "0x" + bytes(r.grant_id or b"").hex()
        detail = live_grant(w, regulator, gid)
        assert detail.get("private") is True, detail  # a private grant on chain, not a clear one
        assert all(detail[k] is None for k in ("purpose", "quota", "not_before", "expires_at")), detail
        creations[gid] = detail["history"][0]["tx_hash"]
        salts[f"salt of {gid}"] = needles_of_bytes(t.salt)
        words[f"terms of {gid}"] = [
            t.purpose.encode().ljust(32, b"\0").hex().encode(),
            *(v.to_bytes(32, "big").hex().encode() for v in (t.not_before, t.expires_at, t.quota) if v),
        ]
        # every member's name is on chain as some grant's grantor: a grantee is a leak in its own grant's data
        grantees[gid] = [t.grantee.encode().ljust(32, b"\0").hex().encode()]
        # the parties' stores hold them: the needles find the salt where it is
        for org in (t.grantor, t.grantee):
            held = {str(p): p.read_bytes() for p in (w.live.directory / "orgs" / org / "grant-terms").iterdir()}
            assert occurrences(held, {"salt": salts[f"salt of {gid}"]}), (org, gid)
        # the grant's page: 404 to every non-party; to a party (the grantee once the log shows it), no terms
        for who in w.personas.values():
            answer = httpx.get(f"{w.live.url}{API}/grants/{gid}", headers=who.headers(), timeout=30.0)
            party = who.regulator or who.org == t.grantor or (who.org == t.grantee and answer.status_code == 200)
            want = 401 if who.org is None else (200 if party else 404)
            assert answer.status_code == want, (who.label, gid, answer.status_code)
            if answer.status_code == 200:
                assert all(answer.json()[k] is None for k in ("purpose", "quota", "not_before", "expires_at"))
            else:
                w.served[f"{who.label} GET {API}/grants/{gid}"] = answer.content
    # the chain: every log of AccessGrants, the demo grants' creating transactions and their receipts
    logs = chain_reads(w)["chain logs of AccessGrants"]
    clear = "0x" + keccak(text="GrantCreated(bytes32,bytes32,bytes32,bytes32,bytes32,uint64,uint64,uint256)").hex()
    assert clear not in logs.decode(), "a clear grant was created in the demo consortium"
    chain = {"chain logs of AccessGrants": logs}
    for gid, tx_hash in creations.items():
        tx = json.dumps(rpc(w.chain, "eth_getTransactionByHash", [tx_hash])).encode()
        receipt = json.dumps(rpc(w.chain, "eth_getTransactionReceipt", [tx_hash])).encode()
        chain |= {f"tx {tx_hash}": tx, f"receipt {tx_hash}": receipt}
        own = word_occurrences(
            {f"tx {tx_hash}": tx, f"receipt {tx_hash}": receipt}, {f"grantee of {gid}": grantees[gid]}
        )
        assert not own, own
    leaks = word_occurrences(chain, words) + occurrences(chain, salts)
    assert not leaks, "\n".join(leaks)
    # a non-party's own evidence: C's bundles of its allowed calls and its evidence zip carry no other grant's salt
    c = w.personas["C"]
    own = w.live.get(f"compliance@{c.org}", f"{API}/calls", limit=20, caller=c.org, decision="allow").json()["calls"]
    assert own, "C made no allowed call"
    served = dict(w.served)
    for row in own[:5]:
        bundle = w.live.get(f"compliance@{c.org}", f"{API}/calls/{row['event_id']}/evidence")
        if bundle.status_code == 200:
            served[f"C evidence {row['event_id']}"] = bundle.content
    zipped = w.live.get(f"compliance@{c.org}", f"{API}/exports/evidence.zip", limit=20, caller=c.org)
    assert zipped.status_code == 200, zipped.text[:200]
    served["C evidence.zip"] = zipped.content
    not_cs = {k: v for k, v in salts.items() if c.org not in _parties_of(records, k)}
    assert not_cs, "C is a party to every demo grant"
    leaks = occurrences({**served, **service_logs(w)}, not_cs)
    assert not leaks, "\n".join(leaks[:20])


def live_grant(w: World, who: str, gid: str) -> dict[str, Any]:
    answer = w.live.get(who, f"{API}/grants/{gid}")
    assert answer.status_code == 200, (gid, answer.text[:200])
    return dict(answer.json())


def _parties_of(records: list[Any], key: str) -> set[str]:
    gid = key.removeprefix("salt of ")
    (r,) = [r for r in records if "0x" + bytes(r.grant_id or b"").hex() == gid]
    return {r.terms.grantor, r.terms.grantee}


def test_with_the_audit_policy_on_a_firm_is_shown_the_regulators_queries_of_its_calls(
    world: World, tmp_path: Path
) -> None:
    """The demo runs with the ``audit`` policy off (what the walks above check). With it on, the same records are
    read in process: a copy of the call index the running explorer built from the log (the regulator's and A's
    real queries of the call among them), served by the explorer's app with the policy on and the consortium's own
    logins. The call's parties are shown the regulator's query of it, in the search and both exports; another
    firm and the operator's people are shown neither the call nor any mark the query audit does not list to them
    (the same rule); A's own query marks nothing; the regulator is shown its query, as with the policy off."""
    import sqlite3
    from types import SimpleNamespace
    from typing import cast

    from fastapi.testclient import TestClient

    from explorer.api import Explorer, Limits, create_app
    from explorer.calls import CallIndex
    from network.logins import Authenticator
    from notary.event import QueryVisibility

    w = world
    copy = tmp_path / "calls.db"
    with sqlite3.connect(w.live.directory / "explorer" / "calls.db") as source, sqlite3.connect(copy) as target:
        source.backup(target)  # a consistent copy while the running explorer writes
    description = load_description(w.live.directory)
    regulators = frozenset(m.org for m in description.members if Role.REGULATOR in m.roles)
    index = CallIndex(copy, readonly=True, tree=description.suite.tree)
    stand_in = SimpleNamespace(
        auth=Authenticator(w.live.directory, regulator_orgs=regulators),
        recorder=None,
        limits=Limits(),
        directory=w.live.directory,
        calls=index,
        visibility=QueryVisibility(regulators, regulator_queries_visible_to_subject=True),
    )
    try:
        with TestClient(create_app(cast(Explorer, stand_in))) as client:

            def get(who: Persona, path: str, **params: Any) -> httpx.Response:
                answer: httpx.Response = client.get(f"{API}{path}", params=params, headers=who.headers())
                assert answer.status_code == 200, (who.label, path, answer.text[:200])
                return answer

            at = index_time(w, w.regulator_query)
            for label in ("A", "B", "C", "O", "R"):
                who = w.personas[label]
                searched = get(who, "/calls", limit=200, **window(w)).json()["calls"]
                exported = json.loads(get(who, "/exports/calls.json", **window(w)).text)
                table = list(csv.DictReader(io.StringIO(get(who, "/exports/calls.csv", **window(w)).text)))
                audit = get(who, "/queries", limit=200, **{"from": at - 1000, "to": at + 1000}).json()["queries"]
                listed = {q["event_id"] for q in audit}
                # the query audit, by the same rule: the regulator's query of the call to its parties now
                assert (w.regulator_query in listed) == (label in ("A", "B", "R")), (label, listed)
                for name, rows in (("search", searched), ("json", exported), ("csv", table)):
                    assert all(sees_call_row(who, r) for r in rows), (label, name)
                    marks = {
                        r["event_id"]: (
                            r["regulator_queries"].split()
                            if isinstance(r["regulator_queries"], str)
                            else [q["event_id"] for q in r["regulator_queries"]]
                        )
                        for r in rows
                    }
                    shown = {q for m in marks.values() for q in m}
                    assert w.firm_query not in shown, (label, name)  # a firm's query is no regulator's
                    if label in ("A", "B", "R"):
                        assert w.regulator_query in marks[w.call["event_id"]], (label, name, marks)
                    else:
                        assert w.call["event_id"] not in marks and w.regulator_query not in shown, (label, name)
    finally:
        index.close()


def index_time(w: World, event_id: str) -> int:
    """When the explorer's record ``event_id`` was made (ms), as the regulator reads it."""
    return int(w.live.get(w.live.regulator(), f"{API}/calls/{event_id}").json()["call"]["time_ms"])
