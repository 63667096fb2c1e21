"""``consortium verify state``: the consortium's records at a block, proven through any chain node without
trusting it (``chain.lightclient``, ``chain.contracts.proven``).

From the genesis whose validators are those ``consortium.json`` names, or from the header kept beside it
(``verified-chain/header.json``, ``network.keptheader``: the one the last run accepted, as ``grant check`` and
``privacy run`` keep it), or from a block verified before (``--trusted-block``, which neither reads nor writes
the kept header), every header up to the block is checked for its parent link and a quorum of seals of its
parent's validator set; then each record asked for is read from the block's state through ``eth_getProof``, every
storage word proven against the header's ``stateRoot``: a member's registry record (``--member``), an org's key
records in the TrustDirectory with their validity at the block (``--keys``), a grant with ``AccessGrants.check``'s
answer at the block's time (``--grant``). The first line says where the walk started. After a run that proved
everything, the header of the block proven is kept for the next run, if it is newer than the one kept. A kept
header that cannot be read or is of another chain (exit 2), or that is not on the chain the node serves (exit 1),
is refused with one line and left as it is; nothing is verified. Exit status: 0 when everything was proven, 1 when
a check failed (the node answered something the chain of trust does not lead to), 2 for unusable input or a node
that cannot be read.

A node that serves its JSON-RPC to members only (``consortium up --rpc-tls``) is asked with a member's client
certificate: ``--chain-cert`` and ``--chain-key`` (or the root options of the same names), the node's certificate
checked against ``--chain-ca`` or the member CAs of ``consortium.json``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from cli._common import address_param, chain_backend, chain_tls_options

if TYPE_CHECKING:
    from chain.contracts.proven import ProvenGrant, ProvenKeys, ProvenState
    from chain.contracts.registry import MemberInfo
    from chain.lightclient import JsonRpc, KeptHeader, VerifiedHeader
    from network.keptheader import KeptHeaderFile

FAILED_EXIT = 1
USAGE_EXIT = 2


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


def _kept_refused(where: str, why: str, code: int, as_json: bool) -> NoReturn:
    """A kept header refused: one line, nothing verified, the file left as it is."""
    message = f"the kept trusted header {where} is refused: {why}"
    if as_json and code == FAILED_EXIT:
        click.echo(json.dumps({"verified": False, "error": message}, indent=2))
    click.echo(
        f"error: {message}; nothing was verified and the file is left as it is: move it aside to follow the headers "
        "from the genesis again, or start from a block you checked with --trusted-block NUMBER:0xHASH",
        err=True,
    )
    sys.exit(code)


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
    help="Start from a block verified before (this command prints it) instead of the header kept beside "
    "consortium.json (verified-chain/header.json) or the genesis; the kept header is then neither read nor written.",
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
        founders = {address_param(v, "--validator") for v in validators}
    else:
        founders = {address_param(m.identity.account, "consortium.json") for m in description.members
                    if Role.VALIDATOR in m.roles}  # fmt: skip
    if not founders and start is None:
        _unusable("consortium.json names no validator (an external chain?): name them with --validator")
    # the header the last run kept beside consortium.json: neither read nor written when --trusted-block names where
    # to start; a file that cannot be read is exit 2, before anything is asked of the node
    keep = _keep_file(consortium)
    kept = None if start is not None else _load_kept(keep, as_json)
    url = chain_url or description.chain_url
    rpc = chain_backend(description, chain_url, chain_cert, chain_key, chain_ca, directory=consortium.parent)  # exit 2
    try:
        header, began = _headers(rpc, founders, start, block, keep, kept, as_json)
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
    _report(header, began, _keep(keep, began, header), state, results, as_json)


@dataclass(frozen=True, slots=True)
class Start:
    """Where the walk of the headers started: ``source`` "genesis", "kept" or "trusted-block", ``header`` the
    header accepted there; ``genesis`` block 0 accepted from the founding validators (None from --trusted-block),
    ``kept`` the header the kept file held when the run began."""

    source: str
    header: VerifiedHeader
    text: str
    genesis: VerifiedHeader | None
    kept: KeptHeader | None


@dataclass(frozen=True, slots=True)
class Kept:
    """The kept header after the run: ``file``, the ``block`` it holds (None: none), whether this run ``written``
    it, and the ``problem`` that kept it from being written."""

    file: str
    block: int | None
    written: bool
    problem: str | None = None


def _keep_file(consortium: Path) -> KeptHeaderFile:
    from network.keptheader import KeptHeaderFile, cli_header_path

    return KeptHeaderFile(cli_header_path(consortium.parent))


def _load_kept(keep: KeptHeaderFile, as_json: bool) -> KeptHeader | None:
    from chain.lightclient import KeptHeaderError

    try:
        return keep.load()
    except KeptHeaderError as exc:
        _kept_refused(keep.where, str(exc), USAGE_EXIT, as_json)


def _headers(
    rpc: JsonRpc,
    founders: set[bytes],
    trusted: tuple[int, bytes] | None,
    block: int | None,
    keep: KeptHeaderFile,
    kept: KeptHeader | None,
    as_json: bool,
) -> tuple[VerifiedHeader, Start]:
    from tqdm import tqdm

    from chain import lightclient

    if trusted is None:
        genesis: VerifiedHeader | None = lightclient.trust_genesis(lightclient.block_at(rpc, 0), founders)
        first = genesis
    else:
        genesis, first = None, lightclient.trust_header(lightclient.block_at(rpc, trusted[0]), *trusted)
    assert first is not None
    head = int(str(rpc.request("eth_blockNumber", [])), 16)
    target = head if block is None else block
    if target > head:
        _unusable(f"block {target} is beyond the node's head, block {head}")
    if target == 0 and trusted is None:
        _unusable("block 0 carries no seals (block 1's parent link is what proves it): prove block 1 or later")
    if genesis is None:
        text = (
            f"block {first.number} is the trusted 0x{first.hash.hex()} (--trusted-block); the header kept in "
            f"{keep.where} is neither read nor written"
        )
        began = Start("trusted-block", first, text, None, None)
    else:
        began = _resumed(rpc, genesis, keep, kept, head, target, as_json)
    first = began.header
    if target < first.number:
        _unusable(f"block {target} is before the trusted block {first.number}: give an earlier --trusted-block")
    bar = tqdm(total=max(0, target - first.number), unit="header", file=sys.stderr, disable=None)

    def progress(done: int, _total: int) -> None:
        bar.update(done - first.number - bar.n)

    try:
        return lightclient.follow(rpc, first, target, progress), began
    finally:
        bar.close()


def _resumed(
    rpc: JsonRpc,
    genesis: VerifiedHeader,
    keep: KeptHeaderFile,
    kept: KeptHeader | None,
    head: int,
    target: int,
    as_json: bool,
) -> Start:
    """Where a walk to ``target`` starts without --trusted-block: the kept header when there is one on the node's
    chain at or before ``target`` (``chain.lightclient.resume``), else the genesis. A kept header of another chain
    (exit 2) or that the node's chain does not lead through (exit 1) is refused and left as it is; one beyond the
    node's head (a node behind the one that served it) or after ``target`` is not used and not written over."""
    from chain import lightclient

    founders = f"block 0 names the {len(genesis.validators)} founding validator(s) of consortium.json"
    if kept is None:
        return Start("genesis", genesis, f"{founders}; no header kept in {keep.where} yet", genesis, None)
    if kept.genesis != genesis.hash:
        _kept_refused(
            keep.where,
            f"it is of another chain: its genesis is 0x{kept.genesis.hex()}, this chain's is 0x{genesis.hash.hex()}",
            USAGE_EXIT,
            as_json,
        )
    if kept.number > head:
        note = f"; the header kept in {keep.where}, block {kept.number}, is beyond the node's head: not used"
        return Start("genesis", genesis, founders + note, genesis, kept)
    try:
        header = lightclient.resume(rpc, genesis, kept)
    except lightclient.KeptHeaderError as exc:
        _kept_refused(keep.where, str(exc), FAILED_EXIT, as_json)
    if kept.number > target:
        note = f"; the header kept in {keep.where}, block {kept.number}, is after block {target}: not used"
        return Start("genesis", genesis, founders + note, genesis, kept)
    text = (
        f"block {header.number}, the header kept in {keep.where} (0x{header.hash.hex()}: the node serves it at that "
        "number, under the genesis of the founding validators of consortium.json)"
    )
    return Start("kept", header, text, genesis, kept)


def _keep(keep: KeptHeaderFile, began: Start, header: VerifiedHeader) -> Kept | None:
    """Keep ``header`` (everything was proven at it) for the next run, if it is newer than the header kept; a
    file that cannot be written is a warning (the state is proven all the same). None from --trusted-block."""
    from chain.lightclient import KeptHeader, KeptHeaderError

    if began.genesis is None:
        return None
    if began.kept is not None and header.number <= began.kept.number:
        return Kept(keep.where, began.kept.number, False)
    try:
        keep.save(KeptHeader.of(began.genesis, header))
    except KeptHeaderError as exc:
        click.echo(f"warning: the header of block {header.number} is not kept: {exc}", err=True)
        return Kept(keep.where, None if began.kept is None else began.kept.number, False, str(exc))
    return Kept(keep.where, header.number, True)


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
    header: VerifiedHeader,
    began: Start,
    kept: Kept | None,
    state: ProvenState,
    results: dict[str, dict[str, Any]],
    as_json: bool,
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
                    "start": began.text,
                    "started_from": {"source": began.source, "block": began.header.number},
                    "kept_header": None
                    if kept is None
                    else {"file": kept.file, "block": kept.block, "written": kept.written, "problem": kept.problem},
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
    click.echo(f"✓ start — {began.text}")
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
                f"    #{r.index} {r.kind.label} {_short(r.value)}: valid from block "
                f"{r.valid_from}{ended}; {verdict} at block {header.number}"
            )
    for gid, proven in results["grants"].items():
        click.echo(f"✓ grant {gid} — {_grant_line(proven)}")
    if kept is not None and kept.written:
        click.echo(f"kept — the header of block {header.number} in {kept.file}: the next run starts from it")
    elif kept is not None and kept.block is not None and kept.problem is None:
        click.echo(f"kept — the header of block {kept.block} in {kept.file}, not older: left as it is")
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
