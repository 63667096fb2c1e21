"""``consortium verify ...``: check the audit log without trusting its operator, from ``consortium.json`` alone.

- ``verify evidence FILE --consortium consortium.json``: an evidence bundle (``GET /v1/evidence/<event id>``),
  offline, without any network access (``notary.verify``);
- ``verify log URL --consortium consortium.json [--token T]``: mirror the whole log from its C2SP tiles,
  recompute every hash, and compare the roots with the anchors on chain (``notary.mirror``); a notary that
  authenticates reads serves the entry bundles to regulators only, so give a regulator's login token;
- ``verify disclosure PROOF [--record RECORD]``: a privacy disclosure document (``privacy.document``): the
  job record's signatures under the keys it names and the proof that one identifier was, or was not, in a
  party's input or in the result; ``--record`` is the auditor's own copy of the signed record;
- ``verify reveal FILE [--target T] [--request-body F] [--response-body F] [--evidence BUNDLE]``: a payload
  against the digests of the event a reveal document (``consortium data reveal``) is about: HMAC-SHA256 under
  the revealed salt, recomputed (``notary.submit.reveal``).

Exit status: 0 when every applicable check passed, 1 when one failed, 2 for unusable input.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from network.description import ConsortiumDescription
from network.logsetup import roots_from_description
from notary.errors import NotaryError, NotFoundError
from notary.mirror import AnchorClaim, Fetch, LogMismatchError, mirror_log
from notary.verify import Step, TrustRoots, passed, verify_evidence_json

FAILED_EXIT = 1
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
    """Verify evidence bundles, the whole audit log, privacy disclosure documents and revealed digest salts."""


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
    help="A login token (`consortium user token`) for a notary that authenticates reads; mirroring reads "
    "every entry bundle, which such a notary serves to regulators only. Default: $CONSORTIUM_TOKEN.",
)
def verify_log_cmd(url: str, consortium: Path, chain_url: str | None, no_chain: bool, token: str | None) -> None:
    """Mirror the log served at URL from its tiles and check every hash, signature and anchor."""
    from tqdm import tqdm

    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL must start with http:// or https://, got {url!r}")
    description = ConsortiumDescription.from_json(_load_json(consortium, "consortium file"))
    roots = _roots(consortium)
    anchors = [] if no_chain else _anchors(description, roots, chain_url)
    bar = tqdm(total=0, unit="entry", file=sys.stderr, disable=None)
    headers = {} if token is None else {"Authorization": f"Bearer {token.strip()}"}
    with httpx.Client(base_url=url.rstrip("/") + "/", timeout=HTTP_TIMEOUT, headers=headers) as client:
        try:
            report = mirror_log(
                _fetcher(client),
                roots,
                anchors,
                progress=bar.update,
                on_checkpoint=lambda cp: setattr(bar, "total", cp.size),
            )
        except LogMismatchError as exc:
            bar.close()
            click.echo(f"✗ {exc.where} — {exc.detail}")
            sys.exit(FAILED_EXIT)
        finally:
            bar.close()
    click.echo(f"✓ checkpoint — size {report.size}, root {report.root.hex()}, signed by {report.origin}")
    click.echo(f"✓ cosignatures — {report.cosigners}")
    click.echo(f"✓ entries — {report.size} entries, each a canonical valid event, leaf hashes recomputed")
    click.echo(f"✓ tiles — {report.tiles} tiles recomputed level by level")
    click.echo(f"✓ root — root at size {report.size} recomputed from the entries")
    if no_chain:
        click.echo("- anchors — not checked (--no-chain)")
    else:
        sizes = ", ".join(map(str, report.anchors_checked)) or "none anchored yet"
        click.echo(f"✓ anchors — {len(report.anchors_checked)} anchor(s) on chain agree with the log ({sizes})")
    click.echo(f"log {report.origin} verified: {report.size} entries, {report.tiles} tiles")


def _fetcher(client: httpx.Client) -> Fetch:
    """GET each path below the log's URL; 404 → NotFoundError, anything else but 200 → NotaryError."""

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
            raise NotaryError(f"HTTP {response.status_code} for {path}: {error} (give a regulator's --token)")
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
