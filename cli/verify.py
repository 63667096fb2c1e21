"""``consortium verify ...``: check the audit log without trusting its operator, from ``consortium.json`` alone.

- ``verify evidence FILE --consortium consortium.json``: an evidence bundle (``GET /v1/evidence/<event id>``),
  offline, without any network access (``notary.verify``);
- ``verify log URL --consortium consortium.json [--token T]``: mirror the whole log from its C2SP tiles,
  recompute every hash, and compare the roots with the anchors on chain (``notary.mirror``); a notary that
  authenticates reads serves the entry bundles to regulators only: with a member's token the log is checked by
  hash only (the leaf hashes as the level-0 tiles hold them, everything above recomputed), which the output
  says on every line it concerns; ``--event ID`` checks the member's own events against their leaves;
- ``verify disclosure PROOF [--record RECORD]``: a privacy disclosure document (``privacy.document``): the
  job record's signatures under the keys it names and the proof that one identifier was, or was not, in a
  party's input or in the result; ``--record`` is the auditor's own copy of the signed record;
- ``verify reveal FILE [--target T] [--request-body F] [--response-body F] [--evidence BUNDLE]``: a payload
  against the digests of the event a reveal document (``consortium data reveal``) is about: HMAC-SHA256 under
  the revealed salt, recomputed (``notary.submit.reveal``);
- ``verify state --consortium consortium.json [--member ORG] [--keys ORG] [--grant ID]``: records of the
  consortium at a block, proven through any chain node from the genesis validators (``cli.verify_state``).

Exit status: 0 when every applicable check passed, 1 when one failed, 2 for unusable input (for ``verify log``,
a credential the notary refuses the log to: nothing was verified).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from cli.verify_state import verify_state_cmd
from network.description import ConsortiumDescription
from network.logsetup import roots_from_description
from notary.errors import NotaryError, NotFoundError
from notary.mirror import AnchorClaim, EntriesMode, Fetch, LogMismatchError, MirrorReport, ReadRefusedError, mirror_log
from notary.verify import Step, TrustRoots, passed, verify_evidence_json

FAILED_EXIT = 1
USAGE_EXIT = 2
#: Seconds one HTTP request to the log may take.
HTTP_TIMEOUT = 30.0


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.UsageError(f"cannot read {what} {path}: {exc}") from None


def _roots(consortium: Path) -> TrustRoots:
    from chain.errors import MalformedError as ChainMalformedError
    from network.logsetup import LogSetupError

    try:
        return roots_from_description(ConsortiumDescription.from_json(_load_json(consortium, "consortium file")))
    except (ChainMalformedError, LogSetupError, NotaryError) as exc:
        raise click.UsageError(f"{consortium}: {exc}") from None


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def _echo(step: Step) -> None:
    click.echo(step.to_text())


consortium_option = click.option(
    "--consortium",
    "consortium",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's public description (consortium.json): the keys and addresses to trust.",
)


@click.group("verify")
def verify() -> None:
    """Verify evidence bundles, the audit log, disclosure documents, revealed salts and the chain's state."""


@verify.command("evidence")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@consortium_option
@click.option(
    "--validator",
    "validators",
    multiple=True,
    metavar="ADDRESS",
    help="A validator account whose seals count (repeatable; replaces the set derived from consortium.json).",
)
def verify_evidence_cmd(file: Path, consortium: Path, validators: tuple[str, ...]) -> None:
    """Check the evidence bundle in FILE offline: exit 0 if every applicable step passed, 1 if one failed."""
    roots = _roots(consortium)
    if validators:
        for address in validators:
            if not (address.startswith("0x") and len(address) == 42 and _is_hex(address[2:])):
                raise click.BadParameter(f"{address!r} is not a 0x-prefixed 20-byte address", param_hint="--validator")
        roots = dataclasses.replace(roots, validators=validators)
    bundle = _load_json(file, "evidence bundle")
    steps = verify_evidence_json(bundle, roots)  # a malformed part fails its steps, as a tampered one does
    event_id = bundle.get("event_id") if isinstance(bundle, dict) else None
    for step in steps:
        _echo(step)
    pending = [s for s in steps if s.ok is None]
    if not passed(steps):
        failed = ", ".join(s.name for s in steps if s.ok is False)
        click.echo(f"evidence of {event_id!r} does NOT verify: {failed}", err=True)
        sys.exit(FAILED_EXIT)
    tail = f" ({len(pending)} step(s) not applicable or pending)" if pending else ""
    click.echo(f"evidence of {event_id!r} verified{tail}")


@verify.command("log")
@click.argument("url")
@consortium_option
@click.option("--chain-url", default=None, help="Chain to read the anchors from (default: the one in consortium.json).")
@click.option("--no-chain", is_flag=True, help="Do not compare with the anchors on chain.")
@click.option(
    "--token",
    envvar="CONSORTIUM_TOKEN",
    default=None,
    help="A login token (`consortium user token`) for a notary that authenticates reads: a member's checks the "
    "log by hash only, a regulator's reads every entry too. Default: $CONSORTIUM_TOKEN.",
)
@click.option(
    "--hashes-only",
    is_flag=True,
    help="Do not read the entry bundles: check the log by hash only even if this credential may read them.",
)
@click.option(
    "--require-entries",
    is_flag=True,
    help="Fail (exit 1) if the entry bundles are refused, instead of checking by hash only: for a regulator's "
    "scheduled check, which must not quietly check less.",
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="EVENT_ID",
    help="An event of your firm (repeatable): its entry, read by id, is checked against its leaf in the tiles.",
)
def verify_log_cmd(
    url: str, consortium: Path, chain_url: str | None, no_chain: bool, token: str | None, hashes_only: bool,
    require_entries: bool, events: tuple[str, ...],
) -> None:  # fmt: skip
    """Mirror the log served at URL from its tiles and check every hash, signature and anchor.

    Where the notary refuses this credential the entry bundles (a member's, under authenticated reads), the
    log is checked by hash only, and the output says so: the checkpoint's signature and cosignatures, every
    tile above level 0 and the root recomputed from the leaf hashes, and the anchors; not that each leaf is
    the hash of a valid event."""
    from tqdm import tqdm

    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL must start with http:// or https://, got {url!r}")
    if hashes_only and require_entries:
        raise click.UsageError("--hashes-only and --require-entries contradict each other: give one")
    mode: EntriesMode = "skip" if hashes_only else "required" if require_entries else "if-readable"
    description = ConsortiumDescription.from_json(_load_json(consortium, "consortium file"))
    roots = _roots(consortium)
    anchors = [] if no_chain else _anchors(description, roots, chain_url)
    bar = tqdm(total=0, unit="leaf", file=sys.stderr, disable=None)
    headers = {} if token is None else {"Authorization": f"Bearer {token.strip()}"}
    with httpx.Client(base_url=url.rstrip("/") + "/", timeout=HTTP_TIMEOUT, headers=headers) as client:
        try:
            report = mirror_log(
                _fetcher(client),
                roots,
                anchors,
                progress=bar.update,
                on_checkpoint=lambda cp: setattr(bar, "total", cp.size),
                entries=mode,
                events=events,
            )
        except LogMismatchError as exc:
            bar.close()
            click.echo(f"✗ {exc.where} — {exc.detail}")
            if require_entries and exc.detail.startswith("refused ("):
                click.echo(
                    "the entry bundles are refused to this credential: give a regulator's --token, or "
                    "drop --require-entries to check the log by hash only",
                    err=True,
                )
            sys.exit(FAILED_EXIT)
        except ReadRefusedError as exc:
            bar.close()
            click.echo(f"error: the notary refuses this credential the log, nothing was verified: {exc}", err=True)
            sys.exit(USAGE_EXIT)
        finally:
            bar.close()
    _echo_log_report(report, no_chain)


def _echo_log_report(report: MirrorReport, no_chain: bool) -> None:
    """Say what was verified and what was not, one line per check, then the verdict."""
    size = report.size
    click.echo(f"✓ checkpoint — size {size}, root {report.root.hex()}, signed by {report.origin}")
    click.echo(f"✓ cosignatures — {report.cosigners}")
    if report.hash_only == 0:
        click.echo(
            f"✓ entries — {report.entries_checked} entries, each a canonical valid event, leaf hashes recomputed"
        )
        click.echo(f"✓ tiles — {report.tiles} tiles recomputed level by level")
        click.echo(f"✓ root — root at size {size} recomputed from the entries")
    else:
        answer = "" if report.refusal is None else f" ({report.refusal})"
        click.echo(f"- entries — NOT checked: {report.entries_refused}{answer}; the leaves are checked by hash only")
        click.echo(
            f"✓ leaves — {report.hash_only} leaf hashes read from {report.leaf_tiles} level-0 tiles, taken as served"
        )
        click.echo(f"✓ tiles — {report.tiles} tiles of level 1 and up recomputed from the leaf hashes, level by level")
        click.echo(f"✓ root — root at size {size} recomputed from the leaf hashes")
    if report.events_checked or report.events_pending:
        checked = ", ".join(report.events_checked) or "none"
        click.echo(
            f"✓ events — {len(report.events_checked)} of your entries read by id, each a canonical valid event "
            f"whose leaf hash is the log's ({checked})"
        )
        if report.events_pending:
            pending = ", ".join(report.events_pending)
            click.echo(
                f"- events — {len(report.events_pending)} beyond the checkpoint's size, not checked yet ({pending})"
            )
    if no_chain:
        click.echo("- anchors — not checked (--no-chain)")
    else:
        sizes = ", ".join(map(str, report.anchors_checked)) or "none anchored yet"
        click.echo(f"✓ anchors — {len(report.anchors_checked)} anchor(s) on chain agree with the log ({sizes})")
    click.echo(
        "- consistency — no earlier checkpoint is kept between runs: each run recomputes the whole tree, and "
        "the anchors on chain are the earlier roots it is checked against"
    )
    witnesses = f"cosigned by {report.cosigned}/{report.witnesses} witnesses"
    if report.hash_only == 0:
        click.echo(
            f"log {report.origin} verified: {size} entries, {report.tiles} tiles; tree of size {size}: root matches "
            f"the checkpoint signed by the log key and {witnesses}; {report.entries_checked} entries checked"
        )
    else:
        own = len(report.events_checked)
        click.echo(
            f"log {report.origin} verified BY HASH ONLY: tree of size {size}: root matches the checkpoint signed by "
            f"the log key and {witnesses}; {own} entries checked (your events), {report.hash_only} leaves checked "
            f"by hash only: entries {report.entries_refused}"
        )


def _fetcher(client: httpx.Client) -> Fetch:
    """GET each path below the log's URL; 404 → NotFoundError, 401 and 403 → ReadRefusedError (the credential,
    not the log), anything else but 200 → NotaryError."""

    def fetch(path: str) -> bytes:
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            raise NotaryError(f"cannot fetch {path}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code == 404:
            raise NotFoundError(f"404 for {path}")
        if response.status_code in (401, 403):
            try:
                error = str(response.json().get("error"))
            except (ValueError, AttributeError):
                error = response.text[:200]
            message = f"HTTP {response.status_code} for {path}: {error}"
            if response.status_code == 401:
                message += " (give a member's or a regulator's --token)"
            raise ReadRefusedError(message)
        if response.status_code != 200:
            raise NotaryError(f"HTTP {response.status_code} for {path}")
        return bytes(response.content)

    return fetch


def _anchors(description: ConsortiumDescription, roots: TrustRoots, chain_url: str | None) -> list[AnchorClaim]:
    """Every anchor of the log's origin on chain (AuditAnchor ``anchor_count``/``size_at``/``at_size``), checked
    against ``latest``; a chain that cannot be read ends the command with exit status 1."""
    from chain.backend import RpcBackend
    from chain.contracts import AuditAnchorClient

    url = chain_url or description.chain_url
    origin = roots.origin
    try:
        backend = RpcBackend(url)
        client = AuditAnchorClient(backend, roots.anchor_address)
        sizes = [int(client.contract.functions.size_at(origin, i).call()) for i in range(client.count(origin))]
        found = [(size, client.at_size(origin, size)) for size in sizes]
        latest = client.latest(origin)
    except Exception as exc:  # web3, requests and our ChainError alike: the anchors could not be read
        _fail_anchors(f"cannot read AuditAnchor {roots.anchor_address} at {url}: {exc.__class__.__name__}: {exc}")
    if backend.chain_id != roots.chain_id:
        _fail_anchors(f"the chain at {url} has chain id {backend.chain_id}, consortium.json says {roots.chain_id}")
    claims = []
    for size, info in found:
        if info is None:
            _fail_anchors(f"AuditAnchor lists size {size} for {origin} but holds no anchor of that size")
        claims.append(AnchorClaim(size, info.root_hash, info.checkpoint_digest, info.block_number))
    if claims and (latest is None or (latest.tree_size, latest.root_hash) != (claims[-1].size, claims[-1].root)):
        _fail_anchors(f"AuditAnchor.latest disagrees with its own list of anchors for {origin}")
    return claims


def _fail_anchors(message: str) -> NoReturn:
    click.echo(f"✗ anchors — {message}")
    sys.exit(FAILED_EXIT)


@verify.command("disclosure")
@click.argument("proof", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--record",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Your own copy of the signed job record (record.json); the document must refer to exactly this one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def verify_disclosure_cmd(proof: Path, record: Path | None, as_json: bool) -> None:
    """Check a disclosure document: exit 0 and say what it proves, or 1 if it proves nothing."""
    from privacy.document import parse_document, verify_document
    from privacy.errors import PrivacyError

    try:
        document = parse_document(proof.read_bytes())
        claim = verify_document(document, None if record is None else record.read_bytes())
    except PrivacyError as exc:
        click.echo(f"error: the disclosure in {proof} does NOT verify: {exc}", err=True)
        sys.exit(FAILED_EXIT)
    job = document.record.record
    if as_json:
        click.echo(
            json.dumps(
                {
                    "job_id": claim.job_id,
                    "org": claim.org,
                    "party": claim.party,
                    "set": claim.set,
                    "identifier": claim.identifier,
                    "member": claim.member,
                    "record_sha256": claim.record_sha256.hex(),
                    "client_key": claim.client_key.hex(),
                    "server_key": claim.server_key.hex(),
                    "statement": claim.sentence(),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    source = f"matches {record}" if record is not None else "carried in the document"
    click.echo(f"✓ record — job {job.job_id}, sha256 {claim.record_sha256.hex()} ({source})")
    click.echo(
        f"✓ signatures — client {job.client.org} (key {claim.client_key.hex()}), server {job.server.org} "
        f"(key {claim.server_key.hex()}): valid under the keys the record names; compare those with the firms' keys"
    )
    size = job.result_count if claim.set == "result" else job.party(claim.party).input.count
    shown = {0: "no leaf (an empty set)", 1: "1 leaf"}.get(len(document.proof.leaves), "2 leaves")
    click.echo(f"✓ proof — the VRF proof and {shown} against the committed set of {size} identifiers")
    click.echo(claim.sentence())


@verify.command("reveal")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--target",
    default=None,
    help="The request's path and query exactly as sent (default: the event's route, which has no query).",
)
@click.option(
    "--request-body",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The request's body (default: empty).",
)
@click.option(
    "--response-body",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The response's body, to check against the response digest.",
)
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The event's evidence bundle: the reveal's entry must be the bundle's (check the bundle with "
    "`verify evidence`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def verify_reveal_cmd(
    file: Path, target: str | None, request_body: Path | None, response_body: Path | None, evidence: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Check a payload against the digests of the event a reveal document (`data reveal`) is about: exit 0 if
    every check made passed, 1 if one failed."""
    import base64
    import binascii

    from notary.submit.reveal import Revealed

    try:
        revealed = Revealed.from_json(_load_json(file, "reveal document"))
    except NotaryError as exc:
        raise click.UsageError(f"{file}: {exc}") from None
    event = revealed.event
    checks: list[tuple[str, bool | None, str]] = []
    if evidence is not None:
        bundle = _load_json(evidence, "evidence bundle")
        try:
            bundled = base64.b64decode(bundle["entry"], validate=True) if isinstance(bundle, dict) else None
        except (KeyError, TypeError, binascii.Error):
            bundled = None
        same = bundled == revealed.entry
        checks.append(("entry", same, "the entry of the evidence bundle" if same else "not the bundle's entry"))
    sent = target if target is not None else event["route"]
    body = request_body.read_bytes() if request_body is not None else b""
    ok = revealed.request_matches(sent, revealed.body_hash(body))  # SHA-256, or SM3 for an sm event (version 3)
    what = f"{event['method']} {sent} with {'an empty body' if not body else f'{len(body)} bytes of body'}"
    checks.append(("request", ok, what if ok else f"{what} is NOT the request recorded"))
    if response_body is not None:
        found = revealed.response_matches(revealed.body_hash(response_body.read_bytes()))
        detail = {
            True: f"status {event['status']} with this body",
            False: f"status {event['status']} with this body is NOT the response recorded",
            None: "the event has no response digest (the gateway never saw a response)",
        }[found]
        checks.append(("response", found, detail))
    failed = [name for name, result, _ in checks if result is False]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "event_id": event["event_id"],
                    "scheme": revealed.scheme,
                    "verified": not failed,
                    "checks": [{"check": n, "ok": r, "detail": d} for n, r, d in checks],
                },
                indent=2,
            )
        )
    else:
        for name, result, detail in checks:
            mark = {True: "✓", False: "✗", None: "–"}[result]
            click.echo(f"{mark} {name} — {detail}")
    if failed:
        click.echo(f"the payload does NOT match event {event['event_id']!r}: {', '.join(failed)}", err=True)
        sys.exit(FAILED_EXIT)
    if not as_json:
        click.echo(f"the payload matches event {event['event_id']!r} ({revealed.scheme} salt)")


verify.add_command(verify_state_cmd)
