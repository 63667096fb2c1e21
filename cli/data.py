"""``consortium data ...``: crypto-shredding of call digests, run by the provider firm from its consortium
directory (its gateway key, so the passphrase, opens its salt vault).

- ``data reveal EVENT_ID --provider ORG``: the one salt of that event, with what an auditor needs to check a
  payload against the event's digests (``consortium verify reveal``);
- ``data shred --provider ORG --day YYYY-MM-DD``: destroy that day's epoch key in every vault of ORG in the
  directory, keep a tombstone, and publish the tombstone signed with ORG's gateway key
  (``orgs/<org>/shreds/<day>.json``), where the explorer reads it.
"""

from __future__ import annotations

import base64
import getpass
import json
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx

from chain.ids import OrgId
from cli._common import Context, emit, fail, json_option, name_arg, pass_ctx

if TYPE_CHECKING:
    from notary.submit.vault import Tombstone


@click.group("data")
def data_group() -> None:
    """Crypto-shredding of call digests: reveal one event's salt, shred one day's epoch key."""


def _entry_from_file(path: Path, event_id: str) -> bytes:
    """The entry bytes in ``path``: the canonical entry itself, or the notary's JSON answer of
    ``/v1/entries/ID`` or ``/v1/evidence/ID`` (their ``entry``, base64)."""
    data = path.read_bytes()
    try:
        obj = json.loads(data)
    except ValueError:
        raise click.UsageError(f"{path} is neither a log entry nor the notary's JSON of one") from None
    if isinstance(obj, dict) and "event_id" in obj and "entry" not in obj:
        return data.rstrip(b"\n")  # the entry itself
    if isinstance(obj, dict) and isinstance(obj.get("entry"), str):
        try:
            return base64.b64decode(obj["entry"], validate=True)
        except ValueError:
            raise click.UsageError(f"{path}: its entry is not base64") from None
    raise click.UsageError(f"{path} holds no entry of event {event_id}")


def _notary_url(ctx: Context, given: str | None) -> str:
    from network.description import ServiceNotRecordedError, load_description

    try:
        return load_description(ctx.directory).service_url("notary", given)
    except ServiceNotRecordedError as exc:
        fail(str(exc))


def _entry_from_notary(ctx: Context, url: str, provider: OrgId, event_id: str) -> bytes:
    """The entry of ``event_id`` from the notary, read as ``<provider>/sdk`` (a party of its own events). The
    explorer's record of a query belongs to the querying firm alone, so the operator reads one as
    ``<operator>/explorer``, the notary's trusted reader, which signs with the same gateway key."""
    from network.identity import load_gateway_key
    from network.shredding import explorer_vault
    from notary.readauth import SignedReads
    from notary.submit.vault import SaltVault

    key = load_gateway_key(ctx.directory, provider, ctx.passphrase())
    verify: ssl.SSLContext | bool = True
    if url.startswith("https://"):  # a notary served over mutual TLS (up --notary-tls): the provider's log@
        from network.description import load_description
        from network.logsetup import notary_client_tls

        verify = notary_client_tls(ctx.directory, load_description(ctx.directory), provider, ctx.passphrase())
    readers = [f"{provider}/sdk"]
    if SaltVault.provider_of(explorer_vault(ctx.directory)) == provider:
        readers.append(f"{provider}/explorer")
    for reader in readers:
        try:
            auth = SignedReads(reader, key)
            with httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=30, verify=verify) as client:
                response = client.get(f"/v1/entries/{event_id}")
        except httpx.HTTPError as exc:
            fail(f"the notary at {url}: {exc}")
        if response.status_code != 404:
            break
    if response.status_code == 404:
        fail(f"the notary at {url} has no event {event_id} of {provider}")
    if response.status_code != 200:
        fail(f"the notary at {url} answered {response.status_code}: {response.text[:200]}")
    return base64.b64decode(response.json()["entry"])


@data_group.command("reveal")
@click.argument("event_id")
@click.option("--provider", required=True, callback=name_arg("org id"), help="The provider firm (yours).")
@click.option(
    "--entry",
    "entry_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The event's log entry: its bytes, or the notary's JSON of /v1/entries/ID or /v1/evidence/ID.",
)
@click.option(
    "--notary-url",
    default=None,
    help="Where to read the entry when --entry is not given [default: the notary URL `consortium up` recorded in "
    "consortium.json].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the reveal document to this file (else print it).",
)
@click.option(
    "--gateway-salt",
    is_flag=True,
    help="Reveal the salt of a version 1 event: the gateway's one salt, which checks all its version 1 events.",
)
@pass_ctx
def data_reveal(
    ctx: Context, event_id: str, provider: OrgId, entry_file: Path | None, notary_url: str | None, out: Path | None,
    gateway_salt: bool,
) -> None:  # fmt: skip
    """Reveal the digest salt of EVENT_ID (a call your firm provided) to an auditor, as JSON."""
    from network.description import load_description
    from network.identity import load_gateway_key
    from network.shredding import alarms_vault, explorer_vault, gateway_vault
    from notary.event import ALARM_CENTER, LEDGER_QUERY_CENTER, gateway_org, parse_entry
    from notary.log.errors import MalformedError
    from notary.submit.digest import GATEWAY_SALT_VERSION, derive_salt
    from notary.submit.reveal import reveal_document
    from notary.submit.vault import SaltVault, VaultError

    if entry_file is not None:
        entry = _entry_from_file(entry_file, event_id)
    else:
        entry = _entry_from_notary(ctx, _notary_url(ctx, notary_url), provider, event_id)
    try:
        event = parse_entry(entry)
    except MalformedError as exc:
        fail(f"the entry of {event_id} is not an event: {exc}")
    if event["event_id"] != event_id:
        fail(f"the entry given is of event {event['event_id']}, not {event_id}")
    if event["provider_org"] != provider or gateway_org(event["gateway_id"]) != provider:
        fail(f"event {event_id} was recorded by {event['gateway_id']} for {event['provider_org']}, not by {provider}")
    key = load_gateway_key(ctx.directory, provider, ctx.passphrase())
    if event["v"] == GATEWAY_SALT_VERSION:
        if not gateway_salt:
            fail(
                f"event {event_id} is of schema version 1: its salt is {event['gateway_id']}'s one salt of every "
                "version 1 event, not this event's alone; pass --gateway-salt to reveal it anyway"
            )
        salt = derive_salt(key)
    else:
        name = event["gateway_id"].split("/", 1)[1]
        if name == LEDGER_QUERY_CENTER:
            folder = explorer_vault(ctx.directory)
        elif name == ALARM_CENTER:
            folder = alarms_vault(ctx.directory)
        else:
            folder = gateway_vault(ctx.directory, provider)
        if SaltVault.provider_of(folder) != provider:
            fail(f"no salt vault of {provider} in {folder}: reveal runs where the gateway keeps its data")
        suite = load_description(ctx.directory).crypto  # what seals the vault's keys: AES-GCM, or SM4-GCM under sm
        try:  # the entry's version says the hash: HKDF-SHA256 (2), HKDF-SM3 (3, an sm consortium's events)
            vault = SaltVault.open(folder, provider, ctx.passphrase(), legacy_key=key, suite=suite)
            salt = vault.reveal(event_id, event["time_ms"], event["v"])
        except VaultError as exc:
            fail(str(exc))
    document = json.dumps(reveal_document(entry, salt), indent=1, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(document, nl=False)
    else:
        out.write_text(document, encoding="utf-8")
        click.echo(f"salt of {event_id} written to {out}", err=True)


@data_group.command("shred")
@click.option("--provider", required=True, callback=name_arg("org id"), help="The provider firm (yours).")
@click.option("--day", required=True, help="The UTC day whose epoch key to destroy, YYYY-MM-DD; it must be over.")
@click.option("--by", default=None, help="Who shreds, recorded in the tombstone (default: your user name).")
@json_option
@pass_ctx
def data_shred(ctx: Context, provider: OrgId, day: str, by: str | None, as_json: bool) -> None:
    """Destroy the epoch key of DAY in every salt vault of PROVIDER here, for good, and publish the tombstone."""
    from network.description import load_description
    from network.identity import load_gateway_key
    from network.shredding import publish, statement_path, vaults_of
    from notary.log.errors import MalformedError
    from notary.submit.vault import SaltVault, VaultError, check_day

    try:
        check_day(day)
    except MalformedError as exc:
        raise click.BadParameter(str(exc), param_hint="--day") from None
    description = load_description(ctx.directory)
    description.member(provider)
    if by is None:
        try:
            by = getpass.getuser()
        except (OSError, KeyError):
            raise click.UsageError("say who shreds with --by") from None
    who = by
    key = load_gateway_key(ctx.directory, provider, ctx.passphrase())
    folders = vaults_of(ctx.directory, provider)
    if not folders:
        fail(f"no salt vault of {provider} in {ctx.directory}: shred runs where the gateway keeps its data")
    results: list[dict[str, Any]] = []
    first: Tombstone | None = None
    for folder in folders:
        try:
            vault = SaltVault.open(folder, provider, ctx.passphrase(), legacy_key=key, suite=description.crypto)
            before = vault.tombstone(day)
            tombstone, destroyed = vault.shred(day, who)
        except (VaultError, MalformedError) as exc:
            fail(str(exc))
        first = first or tombstone
        results.append(
            {
                "vault": str(folder),
                "destroyed": destroyed,
                "already_shredded": before is not None,
                "shredded_ms": tombstone.shredded_ms,
            }
        )
    assert first is not None
    statement = statement_path(ctx.directory, provider, day)
    if _published(statement) != first:  # a repeat keeps the statement of the first, signed by the key valid then
        statement = publish(ctx.directory, first.signed(key))
    data = {**first.to_json(), "vaults": results, "statement": str(statement)}

    def lines() -> list[str]:
        def state(folder: dict[str, Any]) -> str:
            if folder["destroyed"]:
                return "destroyed"
            return "already shredded" if folder["already_shredded"] else "absent (no event of that day salted here)"

        out = [f"{folder['vault']}: epoch key of {day} {state(folder)}" for folder in results]
        return [*out, f"{provider} {day} shredded by {first.by}; statement {statement}"]

    emit(as_json, data, lines)


def _published(path: Path) -> Tombstone | None:
    """The tombstone of the shred statement published at ``path``, None if there is none that reads. A repeated
    shred leaves it as it is: re-signed after a gateway key rotation, its time would be before the new key's and the
    explorer would no longer take it (docs/shredding.md)."""
    from notary.log.errors import MalformedError
    from notary.submit.vault import Tombstone

    try:
        return Tombstone.from_json(json.loads(path.read_bytes()))
    except (OSError, ValueError, MalformedError):
        return None
