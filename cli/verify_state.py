"""``consortium verify state``: the consortium's records at a block, proven through any chain node without
trusting it (``chain.lightclient``, ``chain.contracts.proven``).

From the genesis whose validators are those ``consortium.json`` names (or a block verified before,
``--trusted-block``), every header up to the block is checked for its parent link and a quorum of seals of its
parent's validator set; then each record asked for is read from the block's state through ``eth_getProof``, every
storage word proven against the header's ``stateRoot``: a member's registry record (``--member``), an org's key
records in the TrustDirectory with their validity at the block (``--keys``), a grant with ``AccessGrants.check``'s
answer at the block's time (``--grant``). Exit status: 0 when everything was proven, 1 when a check failed (the
node answered something the chain of trust does not lead to), 2 for unusable input or a node that cannot be read.

A node that serves its JSON-RPC to members only (``consortium up --rpc-tls``) is asked with a member's client
certificate: ``--chain-cert`` and ``--chain-key`` (or the root options of the same names), the node's certificate
checked against ``--chain-ca`` or the member CAs of ``consortium.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from cli._common import chain_backend, chain_tls_options

if TYPE_CHECKING:
    from chain.contracts.proven import ProvenGrant, ProvenKeys, ProvenState
    from chain.contracts.registry import MemberInfo
    from chain.lightclient import JsonRpc, VerifiedHeader

FAILED_EXIT = 1
USAGE_EXIT = 2


def _address(text: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise click.BadParameter(f"{text!r} is not a 0x-prefixed 20-byte address", param_hint=what)
    return raw


def _trusted(text: str | None) -> tuple[int, bytes] | None:
    if text is None:
        return None
    number, _, digest = text.partition(":")
    try:
        raw = bytes.fromhex(digest[2:]) if digest.startswith("0x") else b""
    except ValueError:
        raw = b""
    if not number.isdigit() or len(raw) != 32:
        raise click.BadParameter(f"{text!r} is not NUMBER:0xHASH (a 32-byte hash)", param_hint="--trusted-block")
    return int(number), raw


def _grant_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise click.BadParameter(f"{text!r} is not a 0x-prefixed 32-byte grant id", param_hint="--grant")
    return raw


def _unusable(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(USAGE_EXIT)


def _refused(message: str, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"verified": False, "error": message}, indent=2))
    else:
        click.echo(f"✗ {message}")
    click.echo("the state is NOT proven: the node answered something the chain of trust does not lead to", err=True)
    sys.exit(FAILED_EXIT)


@click.command("state")
@click.option(
    "--consortium",
    "consortium",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's public description (consortium.json): the founding validators and the contracts.",
)
@click.option("--chain-url", default=None, help="Any node of the chain (default: the one in consortium.json).")
@click.option("--block", "block", type=click.IntRange(min=0), default=None, help="The block to prove (default: head).")
@click.option(
    "--trusted-block",
    default=None,
    metavar="NUMBER:0xHASH",
    help="Start from a block verified before (this command prints it) instead of the genesis.",
)
@click.option(
    "--validator",
    "validators",
    multiple=True,
    metavar="ADDRESS",
    help="A founding validator (repeatable; replaces the set consortium.json names, for an external chain).",
)
@click.option("--member", "members", multiple=True, metavar="ORG", help="Prove ORG's registry record (repeatable).")
@click.option("--keys", "key_orgs", multiple=True, metavar="ORG", help="Prove ORG's key records (repeatable).")
@click.option("--grant", "grants", multiple=True, metavar="0xID", help="Prove a grant and its check (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@chain_tls_options
def verify_state_cmd(
    consortium: Path, chain_url: str | None, block: int | None, trusted_block: str | None,
    validators: tuple[str, ...], members: tuple[str, ...], key_orgs: tuple[str, ...], grants: tuple[str, ...],
    as_json: bool, chain_cert: Path | None, chain_key: Path | None, chain_ca: Path | None,
) -> None:  # fmt: skip
    """Prove records of the consortium at a block through any node, trusting only consortium.json: exit 0 if
    every header and proof checked, 1 if one did not."""
    import httpx

    from chain.errors import BackendError, ChainError, MalformedError
    from chain.ids import Role, check_name
    from network.description import ConsortiumDescription

    try:
        description = ConsortiumDescription.from_json(json.loads(consortium.read_text(encoding="utf-8")))
    except (OSError, ValueError, MalformedError) as exc:
        raise click.UsageError(f"cannot read consortium file {consortium}: {exc}") from None
    for org in (*members, *key_orgs):
        try:
            check_name(org, "org id")
        except MalformedError as exc:
            raise click.BadParameter(str(exc), param_hint="--member/--keys") from None
    grant_ids = [_grant_id(g) for g in grants]
    start = _trusted(trusted_block)
    if validators:
        founders = {_address(v, "--validator") for v in validators}
    else:
        founders = {_address(m.identity.account, "consortium.json") for m in description.members
                    if Role.VALIDATOR in m.roles}  # fmt: skip
    if not founders and start is None:
        _unusable("consortium.json names no validator (an external chain?): name them with --validator")
    url = chain_url or description.chain_url
    rpc = chain_backend(description, chain_url, chain_cert, chain_key, chain_ca)  # exit 2 if it cannot be read
    try:
        header, start_text = _headers(rpc, founders, start, block)
        state = _state(rpc, header, description.contracts)
        results: dict[str, dict[str, Any]] = {
            "members": {org: state.member(org) for org in members},
            "keys": {org: state.keys(org) for org in key_orgs},
            "grants": {"0x" + g.hex(): state.grant(g) for g in grant_ids},
        }
    except BackendError as exc:
        _unusable(f"cannot read the chain at {url}: {exc}")
    except ChainError as exc:  # a header or proof refused, or state that is not what the layout says
        _refused(str(exc), as_json)
    except httpx.HTTPError as exc:  # the node went away mid-way
        _unusable(f"cannot read the chain at {url}: {exc.__class__.__name__}: {exc}")
    _report(header, start_text, state, results, as_json)


def _headers(
    rpc: JsonRpc, founders: set[bytes], start: tuple[int, bytes] | None, block: int | None
) -> tuple[VerifiedHeader, str]:
    from tqdm import tqdm

    from chain import lightclient

    if start is None:
        first = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders)
        text = f"block 0 names the {len(first.validators)} founding validator(s) of consortium.json"
    else:
        first = lightclient.trust_header(lightclient.block_at(rpc, start[0]), *start)
        text = f"block {first.number} is the trusted 0x{first.hash.hex()}"
    head = int(str(rpc.request("eth_blockNumber", [])), 16)
    target = head if block is None else block
    if target > head:
        _unusable(f"block {target} is beyond the node's head, block {head}")
    if target == 0 and start is None:
        _unusable("block 0 carries no seals (block 1's parent link is what proves it): prove block 1 or later")
    if target < first.number:
        _unusable(f"block {target} is before the trusted block {first.number}: give an earlier --trusted-block")
    bar = tqdm(total=max(0, target - first.number), unit="header", file=sys.stderr, disable=None)

    def progress(done: int, _total: int) -> None:
        bar.update(done - first.number - bar.n)

    try:
        return lightclient.follow(rpc, first, target, progress), text
    finally:
        bar.close()


def _state(rpc: JsonRpc, header: VerifiedHeader, contracts: dict[str, str]) -> ProvenState:
    from chain.contracts.proven import ProvenState

    return ProvenState(rpc, header, contracts)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _keys_json(keys: ProvenKeys) -> Any:
    from cli._common import _plain

    return {
        "org": keys.org,
        "status": keys.status.name.lower(),
        "records": [{**_plain(r), "counts": keys.counts(r)} for r in keys.records],
    }


def _grant_json(proven: ProvenGrant | None) -> Any:
    from chain.contracts.grants import GrantInfo
    from cli._common import _plain

    if proven is None:
        return None
    return {
        **_plain(proven.grant),
        "private": not isinstance(proven.grant, GrantInfo),
        "current": proven.current,
        "at": proven.at,
        "check": None if proven.status is None else proven.status.name.lower(),
    }


def _report(
    header: VerifiedHeader, start_text: str, state: ProvenState, results: dict[str, dict[str, Any]], as_json: bool
) -> None:
    from cli._common import _plain, iso

    resume = f"{header.number}:{_hex(header.hash)}"
    if as_json:
        click.echo(
            json.dumps(
                {
                    "verified": True,
                    "block": {
                        "number": header.number,
                        "hash": _hex(header.hash),
                        "state_root": _hex(header.state_root),
                        "timestamp": header.timestamp,
                        "round": header.round,
                        "sealed_by": [_hex(a) for a in header.sealed_by],
                        "validators_next": [_hex(a) for a in header.validators],
                    },
                    "start": start_text,
                    "members": {org: _plain(m) for org, m in results["members"].items()},
                    "keys": {org: _keys_json(k) for org, k in results["keys"].items()},
                    "grants": {gid: _grant_json(g) for gid, g in results["grants"].items()},
                    "proven_slots": state.proven_slots,
                    "trusted_block": resume,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"✓ start — {start_text}")
    sealed = ", ".join(_hex(a) for a in header.sealed_by) or "(the trusted block itself)"
    click.echo(
        f"✓ headers — every block up to {header.number} links to its parent and carries a quorum of seals of "
        f"its parent's validators"
    )
    click.echo(
        f"✓ block {header.number} — 0x{header.hash.hex()}, {iso(header.timestamp)}, state root "
        f"0x{header.state_root.hex()}, sealed in round {header.round} by {sealed}"
    )
    for org, info in results["members"].items():
        click.echo(f"✓ member {org} — {_member_line(info)}")
    for org, keys in results["keys"].items():
        click.echo(f"✓ keys {org} — {len(keys.records)} record(s), member {keys.status.name.lower()}")
        for r in keys.records:
            ended = "" if r.valid_until is None else f" until block {r.valid_until} ({r.state.name.lower()})"
            verdict = "counts" if keys.counts(r) else "does NOT count"
            click.echo(
                f"    #{r.index} {r.kind.name.lower().replace('_', '-')} {_short(r.value)}: valid from block "
                f"{r.valid_from}{ended}; {verdict} at block {header.number}"
            )
    for gid, proven in results["grants"].items():
        click.echo(f"✓ grant {gid} — {_grant_line(proven)}")
    click.echo(
        f"state proven at block {header.number} ({state.proven_slots} storage slot(s), each against its state "
        f"root); to start from here next time: --trusted-block {resume}"
    )


def _short(value: bytes) -> str:
    return "0x" + value.hex() if len(value) <= 32 else f"0x{value[:16].hex()}… ({len(value)} bytes)"


def _member_line(info: MemberInfo | None) -> str:
    from cli._common import iso

    if info is None:
        return "never admitted (no record in ConsortiumRegistry)"
    roles = ", ".join(r.lower() for r in info.roles.names()) or "none"
    return (
        f"{info.status.name.lower()}, roles {roles}; {info.name!r}; accounts {', '.join(info.accounts) or 'none'}; "
        f"certificate 0x{info.cert_fingerprint.hex()}; admitted {iso(info.admitted_at)}"
    )


def _grant_line(proven: ProvenGrant | None) -> str:
    from chain.contracts.grants import GrantInfo
    from cli._common import iso

    if proven is None:
        return "no such grant in AccessGrants"
    g = proven.grant
    current = "" if proven.current else "; a newer grant replaced it for its asset, grantee and purpose"
    revoked = "" if not g.revoked_at else f"; revoked {iso(g.revoked_at)} (reason {g.revoke_reason})"
    verdict = "undecided without its terms (private)" if proven.status is None else proven.status.reason
    if isinstance(g, GrantInfo):
        return (
            f"{g.grantor} grants {g.grantee} {g.asset} for {g.purpose!r}, {iso(g.not_before)} to {iso(g.expires_at)}, "
            f"quota {g.quota}{revoked}{current}; check at {iso(proven.at)}: {verdict}"
        )
    return f"private grant of {g.grantor} on {g.asset}{revoked}{current}; check at {iso(proven.at)}: {verdict}"
