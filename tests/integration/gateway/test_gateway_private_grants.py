"""Private grants end to end: ``consortium grant create --private`` and ``grant terms export/import`` (click's
runner, in process) against our node over JSON-RPC, and the provider's gateway as the process ``consortium
gateway serve`` runs, deciding calls with the terms in its org's store.

A call under a private grant is allowed; refused once the grant is revoked, when its window has passed, when the
gateway's terms do not match the commitment, and past its quota. A member that is no party, reading the chain
as any node serves it (``eth_getLogs``, every transaction of every block), finds none of the terms.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts import PrivateTerms
from chain.ids import AssetKind, OrgId, name_to_bytes32
from chain.tx import Signer
from cli.main import cli
from network._pem import encrypt
from network.grantterms import TermsRecord, TermsStore, new_record, terms_dir, with_grant_id
from network.identity import OrgPaths
from tests.integration.gateway.gateway_chain import ASSET, GRANTEE, OTHER, PROVIDER, GatewayChain, digest
from tests.integration.gateway.gateway_notary import NotaryProcess
from tests.integration.gateway.gateway_world import (
    PASS,
    Answer,
    Caller,
    GatewayProcess,
    Upstream,
    World,
    build_world,
)
from tests.support.wait import wait_until

PURPOSE = "research"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, chain: GatewayChain) -> World:
    built = build_world(tmp_path_factory.mktemp("consortium"), chain)
    for org in (PROVIDER, GRANTEE, OTHER, "reg"):  # the CLI signs with the accounts the chain knows
        key = ec.derive_private_key(int.from_bytes(bytes(chain.signers[org].account.key), "big"), ec.SECP256K1())
        OrgPaths.of(built.root, OrgId(org)).account_key.write_bytes(encrypt(key, PASS))
    return built


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, world: World, upstream: Upstream) -> Iterator[GatewayProcess]:
    logs = tmp_path_factory.mktemp("logs")
    notary = NotaryProcess(logs / "notary", {PROVIDER: world.gateway_key()})
    notary.start()
    process = GatewayProcess(world, upstream.url, notary.url, logs / "gateway.log", name="private")
    process.start()
    yield process
    process.stop()
    notary.stop()


def run(world: World, *args: str) -> Result:
    """``consortium --dir ROOT ARGS`` in process. A grant made with ``--days`` starts an hour ago: by default it
    would start at the chain's time, which a burst of blocks runs ahead of the wall clock the gateway judges by."""
    if args[:2] == ("grant", "create") and "--days" in args and "--not-before" not in args:
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        args = (*args, "--not-before", an_hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return CliRunner().invoke(cli, ["--dir", str(world.root), *args], env={"CONSORTIUM_PASSPHRASE": PASS.decode()})


def ok(world: World, *args: str) -> str:
    result = run(world, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(world: World, *args: str) -> str:
    result = run(world, *args)
    assert result.exit_code == 1, (result.output, result.exception)
    return result.stderr


def call(world: World, gateway: GatewayProcess, org: str, purpose: str) -> Answer:
    with Caller(world, world.identity(org)) as caller:
        return caller.call(gateway.url, purpose=purpose)


def answers(world: World, gateway: GatewayProcess, org: str, purpose: str, expected: tuple[int, str | None]) -> None:
    """Wait until the gateway answers ``org``'s call for ``purpose`` with (status, reason)."""
    seen: list[tuple[int, str | None]] = []

    def matches() -> bool:
        answer = call(world, gateway, org, purpose)
        seen.append((answer.status, answer.reason))
        return seen[-1] == expected

    try:
        wait_until(matches, f"the gateway to answer {expected} to {org} for {purpose}", 30, every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the last answers: {seen[-3:]}") from None


def grant_id_in(text: str) -> str:
    return next(word for word in text.split() if word.startswith("0x")).rstrip(":")


def blobs_of_the_chain(chain: GatewayChain) -> list[bytes]:
    """Everything a node serves any member about grants: the AccessGrants contract's logs and the input of every
    transaction to it, found by walking every block (the other contracts name the members, as they should)."""
    web3: Any = chain.backend.web3
    address = chain.contracts["AccessGrants"].lower()
    out: list[bytes] = []
    for entry in web3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": chain.contracts["AccessGrants"]}):
        out.append(bytes(entry["data"]) + b"".join(bytes(t) for t in entry["topics"]))
    for number in range(int(web3.eth.block_number) + 1):
        for tx in web3.eth.get_block(number, full_transactions=True)["transactions"]:
            if str(tx["to"] or "").lower() == address:
                out.append(bytes(tx["input"]))
    assert len(out) >= 4, "the grants' transactions and logs were not found"
    return out


def assert_nowhere(blobs: list[bytes], t: PrivateTerms) -> None:
    needles = {
        "grantee": name_to_bytes32(t.grantee, "org id").rstrip(b"\0"),
        "purpose": name_to_bytes32(t.purpose, "purpose").rstrip(b"\0"),
        "not_before": t.not_before.to_bytes(32, "big"),
        "expires_at": t.expires_at.to_bytes(32, "big"),
        "quota": t.quota.to_bytes(32, "big"),
        "salt": t.salt,
    }
    for label, needle in needles.items():
        assert not any(needle in blob for blob in blobs), f"the {label} of a private grant is on chain"


def test_a_private_grant_from_the_cli_to_the_gateway(
    world: World, chain: GatewayChain, gateway: GatewayProcess
) -> None:
    answers(world, gateway, OTHER, PURPOSE, (403, "no_grant"))
    created = ok(world, "grant", "create", ASSET, "--to", OTHER, "--purpose", PURPOSE, "--days", "1", "--quota",
                 "1000", "--private", "--as", PROVIDER)  # fmt: skip
    assert created.startswith("private grant 0x") and "grant terms export" in created
    grant_id = grant_id_in(created)
    store = TermsStore(world.root, PROVIDER)
    (record,) = store.records()
    assert record.grant_id is not None and "0x" + record.grant_id.hex() == grant_id
    assert (record.terms.grantee, record.terms.purpose, record.terms.quota) == (OTHER, PURPOSE, 1000)
    assert (terms_dir(world.root, PROVIDER) / record.file_name).stat().st_mode & 0o777 == 0o600
    answers(world, gateway, OTHER, PURPOSE, (200, None))
    assert call(world, gateway, OTHER, "marketing").reason == "no_grant"  # another purpose

    # a member that is no party reads the chain as a node serves it: none of the terms are there
    assert_nowhere(blobs_of_the_chain(chain), record.terms)
    listed = ok(world, "grant", "list", "--asset", ASSET)
    assert "(private: terms held by the parties)" in listed and OTHER not in listed
    (shown,) = [g for g in json.loads(ok(world, "grant", "list", "--json")) if g.get("private")]
    assert (shown["grant_id"], shown["grantor"], shown["commitment"]) == (
        grant_id,
        PROVIDER,
        "0x" + record.terms.commitment.hex(),
    )
    assert "grantee" not in shown and "salt" not in shown
    assert ok(world, "grant", "list", "--grantee", OTHER) == "no grants\n"  # a private grant has no grantee on chain

    # the owner's view (its gateway's rule), and the grantee's once it imported the terms
    assert ok(world, "grant", "check", ASSET, "--grantee", OTHER, "--purpose", PURPOSE).startswith(
        f"allowed (private grant {grant_id})"
    )
    assert (
        run(world, "grant", "check", ASSET, "--grantee", OTHER, "--purpose", PURPOSE, "--terms-of", OTHER).exit_code
        == 3
    )
    exported = world.root / "handover.json"
    ok(world, "grant", "terms", "export", grant_id, "--as", PROVIDER, "--out", str(exported))
    assert exported.stat().st_mode & 0o777 == 0o600
    assert "checked against the chain" in ok(world, "grant", "terms", "import", str(exported), "--as", OTHER)
    assert ok(world, "grant", "check", ASSET, "--grantee", OTHER, "--purpose", PURPOSE, "--terms-of", OTHER).startswith(
        "allowed (private grant"
    )
    assert ok(world, "grant", "terms", "import", str(exported), "--as", "reg")  # the regulator may hold them
    assert f'"grant_id": "{grant_id}"' in ok(world, "grant", "terms", "list", "--as", OTHER, "--json")

    # revoked: the gateway refuses, and says so
    ok(world, "grant", "revoke", grant_id, "--reason", "4", "--as", PROVIDER)
    answers(world, gateway, OTHER, PURPOSE, (403, "grant_revoked"))
    checked = run(world, "grant", "check", ASSET, "--grantee", OTHER, "--purpose", PURPOSE)
    assert checked.exit_code == 3 and checked.stdout.startswith(f"denied: grant revoked (private grant {grant_id})")

    # a new private grant of the same three reuses the salt, so it replaces the revoked one on chain
    again = grant_id_in(ok(world, "grant", "create", ASSET, "--to", OTHER, "--purpose", PURPOSE, "--days", "2",
                           "--private", "--as", PROVIDER))  # fmt: skip
    assert again != grant_id and len({r.terms.key for r in TermsStore(world.root, PROVIDER).records()}) == 1
    answers(world, gateway, OTHER, PURPOSE, (200, None))


def test_terms_that_do_not_match_the_commitment_are_refused(
    world: World, chain: GatewayChain, gateway: GatewayProcess
) -> None:
    purpose = "audit"
    created = ok(world, "grant", "create", ASSET, "--to", GRANTEE, "--purpose", purpose, "--days", "1", "--private",
                 "--as", PROVIDER)  # fmt: skip
    answers(world, gateway, GRANTEE, purpose, (200, None))
    store = TermsStore(world.root, PROVIDER)
    (record,) = store.find(ASSET, GRANTEE, purpose)
    # the provider's store holds other terms than it committed to: the chain does not confirm them
    wrong = with_grant_id(new_record(replace(record.terms, quota=5)), record.grant_id or b"")
    store.remove(record)
    store.put(wrong)
    answers(world, gateway, GRANTEE, purpose, (403, "no_grant"))
    checked = run(world, "grant", "check", ASSET, "--grantee", GRANTEE, "--purpose", purpose)
    assert checked.exit_code == 3 and "terms do not match" in checked.stdout
    # the grantee refuses to import them too
    forged = world.root / "forged.json"
    forged.write_text(json.dumps(wrong.to_json()))
    assert "do not match the commitment" in refused(world, "grant", "terms", "import", str(forged), "--as", GRANTEE)
    store.remove(wrong)
    store.put(record)
    answers(world, gateway, GRANTEE, purpose, (200, None))
    assert grant_id_in(created)


def test_an_expired_private_grant_and_its_quota(world: World, chain: GatewayChain, gateway: GatewayProcess) -> None:
    """The contract cannot refuse a window it does not see: a private grant that ended yesterday is on chain,
    and check_private answers expired."""
    now = chain.now()
    expired = PrivateTerms.draw(ASSET, PROVIDER, OTHER, "backtest", now - 2 * 86400, now - 86400, 0)
    store = TermsStore(world.root, PROVIDER)
    signer = Signer.from_key(bytes(chain.signers[PROVIDER].account.key))  # the CLI moved the account's nonce on
    store.put(with_grant_id(new_record(expired), chain.consortium.grants.create_private_grant(signer, expired)))
    answers(world, gateway, OTHER, "backtest", (403, "grant_expired"))

    ok(world, "grant", "create", ASSET, "--to", OTHER, "--purpose", "pricing", "--days", "1", "--quota", "2",
       "--private", "--as", PROVIDER)  # fmt: skip
    answers(world, gateway, OTHER, "pricing", (200, None))  # the first unit (refused calls take none)
    second = call(world, gateway, OTHER, "pricing")
    assert (second.status, second.reason) == (200, None)
    last = call(world, gateway, OTHER, "pricing")
    assert (last.status, last.reason) == (403, "quota_exhausted")


def test_cli_refusals(world: World, chain: GatewayChain) -> None:
    base = ("grant", "create", ASSET, "--purpose", "refusals", "--private", "--as", PROVIDER)
    assert refused(world, *base, "--to", PROVIDER, "--days", "1") == "error: cannot grant to the owner\n"
    assert refused(world, *base, "--to", "reg", "--days", "1") == "error: grantee not a member\n"
    assert refused(world, *base, "--to", "nobody", "--days", "1") == "error: grantee not a member\n"
    assert refused(world, *base, "--to", OTHER, "--expires", "2000-01-02T00:00:00Z", "--not-before",
                   "2000-01-01T00:00:00Z") == "error: grant already expired\n"  # fmt: skip
    assert refused(world, *base, "--to", OTHER, "--expires", "2000-01-01T00:00:00Z", "--not-before",
                   "2000-01-01T00:00:00Z") == "error: expiry must be after not-before\n"  # fmt: skip
    chain.suspend(OTHER)
    try:
        assert refused(world, *base, "--to", OTHER, "--days", "1") == "error: grantee suspended\n"
    finally:
        chain.reinstate(OTHER)
    # refused by the contract (not the owner): nothing is left in the store
    result = run(world, "grant", "create", "bond-prices", "--to", GRANTEE, "--purpose", "refusals", "--days", "1",
                 "--private", "--as", PROVIDER)  # fmt: skip
    assert result.exit_code != 0
    assert not [r for r in TermsStore(world.root, PROVIDER).records() if r.terms.purpose == "refusals"]

    assert "holds no terms of grant" in refused(world, "grant", "terms", "export", "0x" + "ab" * 32, "--as", OTHER)
    window = ("--not-before", "2030-01-01T00:00:00Z", "--expires", "2030-02-01T00:00:00Z")
    ok(world, "grant", "create", ASSET, "--to", OTHER, "--purpose", "twice", *window, "--private", "--as", PROVIDER)
    assert "exactly these terms exists already" in refused(
        world, "grant", "create", ASSET, "--to", OTHER, "--purpose", "twice", *window, "--private", "--as", PROVIDER
    )
    created = ok(world, "grant", "create", ASSET, "--to", OTHER, "--purpose", "handover", "--days", "1", "--private",
                 "--as", PROVIDER)  # fmt: skip
    document: dict[str, Any] = json.loads(ok(world, "grant", "terms", "export", grant_id_in(created), "--as", PROVIDER))
    handover = world.root / "handover-refusals.json"
    handover.write_text(json.dumps(document))
    assert "is neither a party to grant" in refused(world, "grant", "terms", "import", str(handover), "--as", GRANTEE)
    changes: list[tuple[dict[str, Any], str]] = [
        ({"grant_id": "0x" + "cd" * 32}, "no private grant 0x"),
        ({"grant_id": None}, "names no grant id"),
        ({"format": "v0"}, "not a grant terms document"),
        ({"quota": 9}, "do not hash to the document's commitment"),
    ]
    for change, message in changes:
        handover.write_text(json.dumps({**document, **change}))
        assert message in refused(world, "grant", "terms", "import", str(handover), "--as", OTHER), change
    assert TermsRecord.from_json(document).grant_id is not None


def test_the_grantees_grant_list_holds_a_private_grant_once_it_imported_its_terms(
    world: World, chain: GatewayChain
) -> None:
    """``grant list --as ORG``: a private grant with its terms for the parties and the regulator whose stores
    hold them (the grantee as soon as it imported them, before any call), and for nobody else; --grantee finds it
    then; terms in a store that do not match the chain are not shown."""
    purpose = "listing"
    created = ok(world, "grant", "create", ASSET, "--to", GRANTEE, "--purpose", purpose, "--days", "3", "--quota",
                 "7", "--private", "--as", PROVIDER)  # fmt: skip
    grant_id = grant_id_in(created)

    def rows(*args: str) -> dict[str, dict[str, Any]]:
        return {g["grant_id"]: g for g in json.loads(ok(world, "grant", "list", "--json", *args)) if g.get("private")}

    def with_terms(who: str) -> bool:
        row = rows("--as", who)[grant_id]
        if "grantee" not in row:
            return False
        assert (row["grantee"], row["purpose"], row["quota"], row["terms_from"]) == (GRANTEE, purpose, 7, who)
        return True

    assert with_terms(PROVIDER)  # the grantor's store holds them from the start
    assert not with_terms(GRANTEE)  # not imported yet
    assert grant_id[:14] not in ok(world, "grant", "list", "--grantee", GRANTEE, "--as", GRANTEE)
    exported = world.root / "listing.json"
    ok(world, "grant", "terms", "export", grant_id, "--as", PROVIDER, "--out", str(exported))
    ok(world, "grant", "terms", "import", str(exported), "--as", GRANTEE)
    assert with_terms(GRANTEE)  # as soon as it holds them: no call was made under the grant
    text = ok(world, "grant", "list", "--grantee", GRANTEE, "--as", GRANTEE)
    (line,) = [x for x in text.splitlines() if x.startswith(grant_id[:14])]
    assert f"-> {GRANTEE}" in line and purpose in line and "quota 7" in line and "terms from" in line
    assert not with_terms(OTHER)  # another firm: asset and grantor only, its own store notwithstanding
    other = ok(world, "grant", "list", "--as", OTHER)
    assert grant_id[:14] in other and purpose not in other and "terms held by the parties" in other
    assert grant_id[:14] not in ok(world, "grant", "list", "--grantee", GRANTEE, "--as", OTHER)
    assert not with_terms("reg")
    ok(world, "grant", "terms", "import", str(exported), "--as", "reg")
    assert with_terms("reg")

    # the grantee's store altered: the chain does not confirm it, so nothing of it is shown, with a warning
    store = TermsStore(world.root, GRANTEE)
    record = store.by_grant(bytes.fromhex(grant_id[2:]))
    assert record is not None
    store.remove(record)
    store.put(with_grant_id(new_record(replace(record.terms, quota=70)), record.grant_id or b""))
    altered = run(world, "grant", "list", "--as", GRANTEE)
    assert altered.exit_code == 0 and "do not match it on chain" in altered.stderr
    assert "quota 70" not in altered.stdout and grant_id[:14] in altered.stdout


def test_a_private_grants_own_psi_terms_are_its_grantees_only(world: World, chain: GatewayChain) -> None:
    """``consortium privacy grant-terms`` on a private grant: the grantee comes from the owner's terms store, checked
    against the grant's commitment on chain (a store whose terms the chain does not confirm is refused, writing
    nothing); the grant's document names the grantee, and the owner's PSI service (as ``privacy serve`` opens it)
    serves it to the grantee only. A firm that is no party reads neither the document nor, in the asset's terms
    or its grant list, what it says; nor can it set the grant's terms."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from gateway.psi import grant_terms_dir, load_grant_terms, load_terms
    from notary.headers import CALLER_ORG_HEADER
    from privacy.asset import parse_grant_terms, terms_digest
    from sdk.privacy import open_psi_service, write_psi_terms

    asset, purpose = "psi-private-ids", "aml-private"
    signer = Signer.from_key(bytes(chain.signers[PROVIDER].account.key))  # the CLI moved the account's nonce on
    chain.consortium.assets.register_asset(signer, asset, AssetKind.DATASET, digest(asset), digest(f"{asset} terms"), 2)
    write_psi_terms(world.root, PROVIDER, asset, 100, f"/v1/privacy/{asset}", PASS)
    first = load_terms(world.root, PROVIDER)[asset]
    grant_id = grant_id_in(ok(world, "grant", "create", asset, "--to", GRANTEE, "--purpose", purpose, "--days", "1",
                              "--private", "--as", PROVIDER))  # fmt: skip
    terms = ("privacy", "grant-terms", asset, "--grant", grant_id, "--max-input", "5")

    # the owner's store holds other terms for the grant than the chain commits to (another grantee): refused
    store = TermsStore(world.root, PROVIDER)
    record = store.by_grant(bytes.fromhex(grant_id[2:]))
    assert record is not None
    wrong = with_grant_id(new_record(replace(record.terms, grantee=OTHER)), record.grant_id or b"")
    store.remove(record)
    store.put(wrong)
    try:
        assert "do not match it on chain" in refused(world, *terms, "--as", PROVIDER)
    finally:
        store.remove(wrong)
        store.put(record)
    assert load_terms(world.root, PROVIDER)[asset] == first and not load_grant_terms(world.root, PROVIDER, asset)
    assert f"made by {PROVIDER}, not {OTHER}" in refused(world, *terms, "--as", OTHER)

    shown = json.loads(ok(world, *terms, "--as", PROVIDER, "--json"))
    assert shown["grantee"] == GRANTEE
    document = load_grant_terms(world.root, PROVIDER, asset)[grant_id]
    listing = load_terms(world.root, PROVIDER)[asset]
    assert parse_grant_terms(document).grantee == GRANTEE
    assert shown["metadata_digest"] == "0x" + terms_digest(listing).hex()
    for path in grant_terms_dir(world.root, PROVIDER, asset).iterdir():
        assert path.stat().st_mode & 0o077 == 0
    assert GRANTEE.encode() not in listing and terms_digest(document).hex().encode() in listing
    other = json.loads(ok(world, "grant", "list", "--asset", asset, "--as", OTHER, "--json"))
    assert [("grantee" in g, "psi_terms" in g) for g in other] == [(False, False)]

    service = open_psi_service(world.root, PROVIDER, asset, ["ACCT:1"], PASS)

    def terms_step(caller: str) -> tuple[int, bytes]:
        request = make_mocked_request(
            "GET", f"/v1/privacy/{asset}/terms?grant={grant_id}", headers={CALLER_ORG_HEADER: caller}
        )

        async def ask() -> web.Response:
            return await service.handler("terms")(request)

        answer = asyncio.run(ask())
        assert isinstance(answer.body, bytes)
        return answer.status, answer.body

    assert terms_step(GRANTEE) == (200, document)
    status, body = terms_step(OTHER)
    assert status == 403 and json.loads(body)["reason"] == "wrong_client" and b"max_input" not in body
