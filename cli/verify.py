"""``consortium verify ...``: check the audit log without trusting its operator, from ``consortium.json`` alone.

- ``verify evidence FILE --consortium consortium.json``: an evidence bundle (``GET /v1/evidence/<event id>``),
  every step from the bundle (``notary.verify``), the cosignatures counted under the witness keys, the checkpoint
  and receipt checked under the log key, both valid on chain at the anchor's block (``network.witnesskeys``, read
  from the chain); with ``--offline``, no network access at all, under the witness keys and the log key
  ``consortium.json`` lists;
- ``verify log URL --consortium consortium.json [--token T | --as ORG]``: mirror the whole log from its C2SP tiles,
  recompute every hash, and compare the roots with the anchors on chain (``notary.mirror``), saying for an ``sm``
  log which anchors AuditAnchor checked against the notary's SM2 log key and which it took unchecked; a notary that
  authenticates reads serves the entry bundles to regulators only (``--as ORG`` signs each read as ``ORG/verify``
  with ORG's gateway key, ``notary.readauth.SignedReads``, reading as a token of that org does): with a member's
  credential the log is checked by hash only (the leaf hashes as the level-0 tiles hold them, everything above
  recomputed), which the output says on every line it concerns; ``--event ID`` checks the member's own events
  against their leaves, ``--mine`` every event of the credential's firm (``GET /v1/events``); the checkpoint
  verified last is kept in a state file (``notary.logstate``, ``--state``/``--no-state``) and the next run requires
  the log to extend it (a consistency proof), refusing a log that went back or forked; the checkpoint is checked
  under the log key and its cosignatures counted under the witness keys valid on chain at its anchor's block, or
  with ``--no-chain`` (``--offline``) under ``consortium.json``'s;
- ``verify events URL --consortium consortium.json [--token T | --as ORG]``: list the events of the credential's firm
  (its caller or provider), as the notary's read API filters them;
- ``verify disclosure PROOF [--record RECORD] [--evidence BUNDLE --consortium consortium.json]``: a privacy
  disclosure document (``privacy.document``): the job record's signatures under the keys it names and the proof
  that one identifier was, or was not, in a party's input or in the result; ``--record`` is the auditor's own copy
  of the signed record; ``--evidence`` binds the record to the log: the evidence bundle of the job's record step,
  checked as ``verify evidence`` checks it (the same trust options), whose event must name this record
  (``psi_record``), its client as caller, its server as provider and the job's tag
  (``privacy.document.disclosure_binding``), all through ``sdk.disclosure.verify_disclosure``;
  without it the record's keys are checked against nothing, which the output says;
- ``verify reveal FILE [--target T] [--request-body F] [--response-body F] [--evidence BUNDLE]``: a payload
  against the digests of the event a reveal document (``consortium data reveal``) is about: HMAC-SHA256 under
  the revealed salt, recomputed (``notary.submit.reveal``);
- ``verify state --consortium consortium.json [--member ORG] [--keys ORG] [--grant ID]``: records of the
  consortium at a block, proven through any chain node from the genesis validators, or from the header its last
  run kept beside ``consortium.json`` (``verified-chain/header.json``), or ``--trusted-block`` (``cli.verify_state``);
  a node serving members only is asked with ``--chain-cert``/``--chain-key``, as ``verify evidence`` and ``verify log``
  read the chain.

Exit status: 0 when every applicable check passed, 1 when one failed, 2 for unusable input (for ``verify log``,
a credential the notary refuses the log to, or a state file that cannot be read or written).
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click
import httpx
from click.core import ParameterSource

from cli._common import address_param, chain_backend, chain_tls_options, command_passphrase, name_arg
from cli.verify_state import verify_state_cmd
from network.description import ConsortiumDescription, RetiredAnchor
from network.logsetup import roots_from_description
from network.witnesskeys import (
    ChainWitnessKeys,
    CheckpointWitnesses,
    claimed_checkpoint_size,
    offline_witnesses,
    with_witnesses,
)
from notary.errors import NotaryError, NotFoundError
from notary.logstate import LogStateError, VerifiedCheckpoint, default_state_path, load_state, save_refused, save_state
from notary.logsuite import LogVerifier
from notary.mirror import (
    AnchorClaim,
    CheckpointConflictError,
    EntriesMode,
    Fetch,
    LogMismatchError,
    MirrorReport,
    ReadRefusedError,
    describe_checkpoint,
    mirror_log,
)
from notary.verify import Step, TrustRoots, passed, verify_evidence_json

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from chain.backend import Backend
    from chain.contracts import AuditAnchorClient

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


def _echo(step: Step) -> None:
    click.echo(step.to_text())


consortium_option = click.option(
    "--consortium",
    "consortium",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consortium's public description (consortium.json): the keys and addresses to trust.",
)


def client_cert_options(f: Any) -> Any:
    """``--cert``, ``--key``, ``--passphrase-file`` and ``--ca``: a member's client certificate for a notary
    served over HTTPS (mutual TLS), and the CAs its server certificate is checked against."""
    f = click.option(
        "--ca",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="CA certificates (PEM) to check an https notary's server certificate with (default: the member CAs "
        "of consortium.json).",
    )(f)
    f = click.option(
        "--passphrase-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="The file holding the passphrase of --key and of --as's key (default: the one given to consortium, "
        "else $CONSORTIUM_PASSPHRASE).",
    )(f)
    f = click.option(
        "--key",
        "key_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="The private key of --cert (encrypted with the consortium passphrase).",
    )(f)
    return click.option(
        "--cert",
        "cert_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="A member's client certificate (PEM, e.g. orgs/ORG/users/NAME@ORG/msp/signcerts/cert.pem) for a notary "
        "served over https that accepts them (notary serve --tls-cert): the firm reads as with a login token.",
    )(f)


@dataclasses.dataclass(frozen=True)
class ClientCert:
    """What the command line says about TLS to the notary."""

    cert: Path | None
    key: Path | None
    passphrase_file: Path | None
    ca: Path | None

    def context(self, url: str, consortium: Path | None) -> ssl.SSLContext | None:
        """The client's TLS context for an https ``url``: the server checked against ``ca`` or else the member
        CAs of ``consortium`` (or the system's without either), presenting ``cert`` if given; None for http."""
        if (self.cert is None) != (self.key is None):
            raise click.UsageError("--cert and --key go together")
        if not url.startswith("https://"):
            if self.cert is not None or self.ca is not None:
                raise click.UsageError(f"--cert, --key and --ca are for an https URL, not {url}")
            return None
        if self.ca is not None:
            context = ssl.create_default_context(cafile=str(self.ca))
        elif consortium is not None:
            from network.certificates import ca_bundle_pem

            description = ConsortiumDescription.from_json(_load_json(consortium, "consortium file"))
            context = ssl.create_default_context(cadata=ca_bundle_pem(description))
        else:
            context = ssl.create_default_context()
        if self.cert is not None and self.key is not None:
            from network.errors import NetworkError

            try:
                passphrase = command_passphrase(self.passphrase_file)
                context.load_cert_chain(str(self.cert), str(self.key), password=passphrase)
            except (NetworkError, ssl.SSLError, OSError) as exc:
                raise click.UsageError(f"cannot use --cert {self.cert} with --key {self.key}: {exc}") from None
        return context


#: The service name a member's ``verify`` signs its reads as: ``<org>/verify`` (``notary.readauth``).
VERIFY_READER = "verify"


def reader_option(what: str) -> Callable[[Any], Any]:
    """``--as ORG``: sign every read with ORG's gateway key, as ``ORG/verify`` (``notary.readauth.SignedReads``)."""
    return click.option(
        "--as",
        "as_org",
        default=None,
        metavar="ORG",
        callback=name_arg("org id"),
        help=f"Sign each read with the gateway key of member ORG (DIR/orgs/ORG, DIR the directory of consortium.json; "
        f"the passphrase from --passphrase-file, consortium's own, or $CONSORTIUM_PASSPHRASE), as the reader "
        f"ORG/{VERIFY_READER}, for a notary that authenticates reads: {what}",
    )


@dataclasses.dataclass(frozen=True)
class Credential:
    """Who reads the log: the signer of signed reads (``auth``, named ``reader``), and the words that name the
    credential in an error."""

    auth: httpx.Auth | None = None
    reader: str | None = None

    @property
    def named(self) -> str:
        if self.reader is None:
            return "this credential"
        return f"{self.reader} (reads signed with the gateway key of {self.reader.partition('/')[0]})"


def signed_reader(
    ctx: click.Context, consortium: Path | None, as_org: str | None, token: str | None, passphrase_file: Path | None
) -> Credential:
    """The credential of ``--as``: the reads signed with ORG's gateway key from the directory of ``consortium``; a
    usage error for ``--as`` beside an explicit ``--token`` (one identity per run: a ``$CONSORTIUM_TOKEN`` in the
    environment is left unsent), without ``--consortium``, or with a key that cannot be loaded."""
    if as_org is None:
        return Credential()
    if token is not None and ctx.get_parameter_source("token") is not ParameterSource.ENVIRONMENT:
        raise click.UsageError("--as and --token are two identities: give one")
    if consortium is None:
        raise click.UsageError("--as reads ORG's gateway key beside consortium.json: give --consortium")
    from chain.ids import OrgId
    from network.errors import NetworkError
    from network.identity import load_gateway_key
    from notary.readauth import SignedReads

    directory = consortium.parent
    try:
        key = load_gateway_key(directory, OrgId(as_org), command_passphrase(passphrase_file))
    except NetworkError as exc:
        raise click.UsageError(
            f"--as {as_org}: cannot load its gateway key from {directory}/orgs/{as_org}: {exc}"
        ) from None
    reader = f"{as_org}/{VERIFY_READER}"
    return Credential(SignedReads(reader, key), reader)


def _unusable(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(USAGE_EXIT)


def chain_keys(description: ConsortiumDescription, backend: Any) -> ChainWitnessKeys:
    """The witness and log keys of the consortium's chain through ``backend`` (``network.witnesskeys``); exit
    status 2 for a consortium that keeps no keys on chain."""
    from network.witnesskeys import ChainWitnessKeys, WitnessKeysError

    try:
        return ChainWitnessKeys(description, backend)
    except WitnessKeysError as exc:
        _unusable(str(exc))


def _chain_unreadable(backend: Any, exc: Exception) -> NoReturn:
    _unusable(
        f"cannot read the witness and log keys from the chain at {backend.url}: {exc.__class__.__name__}: {exc} "
        "(give --offline to trust consortium.json's witnesses and log key instead)"
    )


def witness_keys_for(
    keys: ChainWitnessKeys, roots: TrustRoots, size: int | None
) -> tuple[TrustRoots, CheckpointWitnesses]:
    """``roots`` with the witnesses and log keys valid on chain for the checkpoint of ``size``, both at the one
    block that anchored it (``network.witnesskeys``); exit status 2 when the chain cannot tell them."""
    try:
        return keys.roots(roots, size)
    except Exception as exc:  # web3, requests and our ChainError alike: the directory could not be read
        _chain_unreadable(keys.backend, exc)


def all_log_keys(keys: ChainWitnessKeys, roots: TrustRoots) -> TrustRoots:
    """``roots`` with every log key the chain records (judged at its head), to open a checkpoint kept or served
    before the keys for its size are chosen; exit status 2 when the chain cannot tell them."""
    try:
        found = keys.log_keys()
    except Exception as exc:  # as above
        _chain_unreadable(keys.backend, exc)
    return roots if found is None else dataclasses.replace(roots, log_keys=found)


@click.group("verify")
def verify() -> None:
    """Verify evidence bundles, the audit log, disclosure documents, revealed salts and the chain's state."""


def evidence_trust_options(f: Any) -> Any:
    """``--validator``, ``--chain-url``, ``--offline`` and the chain's TLS options: what ``verify evidence``
    checks a bundle under, beside ``--consortium``."""
    f = chain_tls_options(f)
    f = click.option(
        "--offline",
        is_flag=True,
        help="Read nothing from the chain: count the witnesses consortium.json lists and check the log key it "
        "names, trusting the file (a witness or log key rotated, retired or compromised on chain, a later witness "
        "or a suspended member is not seen).",
    )(f)
    f = click.option(
        "--chain-url",
        default=None,
        help="The chain to read the witness keys and log keys valid at the anchor's block from (default: "
        "consortium.json's).",
    )(f)
    return click.option(
        "--validator",
        "validators",
        multiple=True,
        metavar="ADDRESS",
        help="A validator account whose seals count (repeatable; replaces the set derived from consortium.json).",
    )(f)


@verify.command("evidence")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@consortium_option
@evidence_trust_options
def verify_evidence_cmd(
    file: Path, consortium: Path, validators: tuple[str, ...], chain_url: str | None, offline: bool,
    chain_cert: Path | None, chain_key: Path | None, chain_ca: Path | None,
) -> None:  # fmt: skip
    """Check the evidence bundle in FILE: exit 0 if every applicable step passed, 1 if one failed.

    Every step is checked offline from the bundle and consortium.json, but the keys: the cosignatures count under
    the witness keys valid on chain at the block that anchored the checkpoint (at the head for one not anchored
    yet), of members active then, and the checkpoint and receipt are checked under the log key valid at that same
    block (a log whose key rotated), read from the chain; with --offline, under consortium.json's witnesses and
    log key."""
    bundle = _load_json(file, "evidence bundle")
    roots = evidence_roots(bundle, consortium, validators, chain_url, offline, chain_cert, chain_key, chain_ca)
    steps = check_evidence(bundle, roots)
    pending = [s for s in steps if s.ok is None]
    event_id = bundle.get("event_id") if isinstance(bundle, dict) else None
    tail = f" ({len(pending)} step(s) not applicable or pending)" if pending else ""
    click.echo(f"evidence of {event_id!r} verified{tail}")


def evidence_roots(
    bundle: Any, consortium: Path, validators: Sequence[str], chain_url: str | None, offline: bool,
    chain_cert: Path | None, chain_key: Path | None, chain_ca: Path | None,
) -> TrustRoots:  # fmt: skip
    """The trust roots ``verify evidence`` checks ``bundle`` under: ``consortium.json``'s, and the witness and log
    keys valid on chain at the block that anchored the bundle's checkpoint, or with ``offline`` the ones
    ``consortium.json`` lists. The seals count under the validators given, else (reading the consortium's own
    chain) under the set of the anchor's block proven from the founding validators (``network.witnesskeys``:
    ``prove_anchor_block``; the keys too, ``prove_witnesses``), the walk resumed from the header kept in
    ``verified-chain/`` beside the file, else (offline, an external chain) under the founding validators. A usage
    error (exit 2) for options that cannot work."""
    roots = _roots(consortium)
    if validators:
        for address in validators:
            address_param(address, "--validator")
        roots = dataclasses.replace(roots, validators=tuple(validators))
    description = ConsortiumDescription.from_json(_load_json(consortium, "consortium file"))
    if offline:
        if chain_url is not None or chain_cert is not None or chain_ca is not None:
            raise click.UsageError("--offline reads no chain: drop --chain-url, --chain-cert and --chain-ca")
        return with_witnesses(roots, description, offline_witnesses(description))
    backend = chain_backend(description, chain_url, chain_cert, chain_key, chain_ca, directory=consortium.parent)
    keys = chain_keys(description, backend)
    if validators:  # the set given counts every seal: nothing to prove
        roots, _ = witness_keys_for(keys, roots, claimed_checkpoint_size(bundle))
        return roots
    from network.grantterms import trusted_heads
    from network.keptheader import cli_header_path

    # the anchor's block and the set that sealed it, proven from the founders (or the header kept beside the file)
    keys.heads = trusted_heads(backend, description, cli_header_path(consortium.parent))
    try:
        roots, _ = keys.evidence_roots(roots, bundle, prove_keys=True)
    except Exception as exc:  # as witness_keys_for: the chain could not be read
        _chain_unreadable(keys.backend, exc)
    if keys.heads is not None and keys.heads.keep_problem is not None:
        click.echo(f"warning: the newest trusted header is not kept: {keys.heads.keep_problem}", err=True)
    return roots


def check_evidence(bundle: Any, roots: TrustRoots) -> list[Step]:
    """Check ``bundle`` (its JSON) under ``roots`` as ``verify evidence`` does, printing each step; end the
    command with exit status 1 naming the failed steps when one failed. Returns the steps when none did."""
    steps = verify_evidence_json(bundle, roots)  # a malformed part fails its steps, as a tampered one does
    for step in steps:
        _echo(step)
    if not passed(steps):
        event_id = bundle.get("event_id") if isinstance(bundle, dict) else None
        failed = ", ".join(s.name for s in steps if s.ok is False)
        click.echo(f"evidence of {event_id!r} does NOT verify: {failed}", err=True)
        sys.exit(FAILED_EXIT)
    return steps


@verify.command("log")
@click.argument("url")
@consortium_option
@click.option("--chain-url", default=None, help="Chain to read the anchors from (default: the one in consortium.json).")
@click.option(
    "--no-chain",
    "--offline",
    "no_chain",
    is_flag=True,
    help="Read nothing from the chain: do not compare with the anchors, and count the witnesses consortium.json "
    "lists under the log key it names, trusting the file (a witness or log key rotated, retired or compromised on "
    "chain, a later witness or a suspended member is not seen). Without it, the checkpoint is checked under the log "
    "key and the cosignatures under the witness keys valid on chain at the block that anchored it (the head for "
    "one not anchored yet).",
)
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
@click.option(
    "--mine",
    is_flag=True,
    help="Check every event of this credential's firm (its caller or provider), listed by the notary "
    "(GET /v1/events), against its leaf, as --event does for one.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file that keeps the checkpoint verified last (default: verified-log/<origin>-<hash>.json beside "
    "consortium.json). The next run requires the log to extend it.",
)
@click.option(
    "--no-state",
    is_flag=True,
    help="Neither compare with a checkpoint verified before nor keep this one.",
)
@reader_option("a member's checks the log by hash only and reads its own events, a regulator's every entry too.")
@client_cert_options
@chain_tls_options
@click.pass_context
def verify_log_cmd(
    ctx: click.Context, url: str, consortium: Path, chain_url: str | None, no_chain: bool, token: str | None,
    hashes_only: bool, require_entries: bool, events: tuple[str, ...], mine: bool, state_file: Path | None,
    no_state: bool, as_org: str | None, cert_file: Path | None, key_file: Path | None, passphrase_file: Path | None,
    ca: Path | None, chain_cert: Path | None, chain_key: Path | None, chain_ca: Path | None,
) -> None:  # fmt: skip
    """Mirror the log served at URL from its tiles and check every hash, signature and anchor.

    Where the notary refuses this credential the entry bundles (a member's, under authenticated reads), the
    log is checked by hash only, and the output says so: the checkpoint's signature and cosignatures, every
    tile above level 0 and the root recomputed from the leaf hashes, and the anchors; not that each leaf is
    the hash of a valid event.

    The checkpoint verified is kept in a state file; the next run refuses a log whose checkpoint does not
    extend it (a smaller tree, another root at the same size, or no valid consistency proof) and exits 1,
    leaving the file unchanged. The first run trusts the log's checkpoint on first use."""
    from tqdm import tqdm

    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL must start with http:// or https://, got {url!r}")
    if hashes_only and require_entries:
        raise click.UsageError("--hashes-only and --require-entries contradict each other: give one")
    if no_state and state_file is not None:
        raise click.UsageError("--state and --no-state contradict each other: give one")
    mode: EntriesMode = "skip" if hashes_only else "required" if require_entries else "if-readable"
    credential = signed_reader(ctx, consortium, as_org, token, passphrase_file)
    tls = ClientCert(cert_file, key_file, passphrase_file, ca).context(url, consortium)
    description = ConsortiumDescription.from_json(_load_json(consortium, "consortium file"))
    roots = _roots(consortium)
    state_path = None if no_state else state_file or default_state_path(consortium, roots.origin)
    if no_chain:
        # consortium.json's witnesses and log key, whatever the checkpoint
        roots = with_witnesses(roots, description, offline_witnesses(description))
        chain = ChainAnchors([])

        def roots_for(size: int) -> TrustRoots:
            return roots

    else:
        backend = chain_backend(
            description, chain_url, chain_cert, chain_key, chain_ca, passphrase_file, directory=consortium.parent
        )
        keys = chain_keys(description, backend)
        roots = all_log_keys(keys, roots)  # the state file's and the served note's key may be any of them

        def roots_for(size: int) -> TrustRoots:  # the witness and log keys valid at the anchor's block of that size
            return witness_keys_for(keys, roots, size)[0]

    previous = None
    if state_path is not None:
        try:
            previous = load_state(state_path, roots.log, _rotated(roots))
        except LogStateError as exc:
            click.echo(f"error: {exc}; nothing was verified", err=True)
            sys.exit(USAGE_EXIT)
    if not no_chain:
        chain = _anchors(description, roots, chain_url, backend)

    bar = tqdm(total=0, unit="leaf", file=sys.stderr, disable=None)
    with log_client(url, token, tls, credential) as client:
        fetch = _fetcher(client, cert_file is not None, credential)
        try:
            if mine:
                listed = list_events(fetch, own=True)
                events = tuple(dict.fromkeys([*events, *(str(e["event_id"]) for e in listed)]))
            report = mirror_log(
                fetch,
                roots,
                chain.claims,
                progress=bar.update,
                on_checkpoint=lambda cp: setattr(bar, "total", cp.size),
                entries=mode,
                events=events,
                previous=None if previous is None else previous.checkpoint,
                roots_for=roots_for,
            )
        except CheckpointConflictError as exc:
            bar.close()
            assert previous is not None and state_path is not None
            _echo_conflict(exc, previous, state_path)
            sys.exit(FAILED_EXIT)
        except LogMismatchError as exc:
            bar.close()
            click.echo(f"✗ {exc.where} — {exc.detail}")
            if require_entries and exc.detail.startswith("refused ("):
                click.echo(
                    f"the entry bundles are refused to {credential.named}: give a regulator's --token or --as, or "
                    "drop --require-entries to check the log by hash only",
                    err=True,
                )
            sys.exit(FAILED_EXIT)
        except ReadRefusedError as exc:
            bar.close()
            click.echo(f"error: the notary refuses {credential.named} the log, nothing was verified: {exc}", err=True)
            sys.exit(USAGE_EXIT)
        finally:
            bar.close()
    kept, problem = (None, None) if state_path is None else _keep(state_path, report, url, roots)
    _echo_log_report(report, no_chain, chain, roots.suite.name == "sm", state_path, previous, kept)
    if problem is not None:
        click.echo(
            f"error: the log verified, but {problem}: the next run cannot check against this checkpoint", err=True
        )
        sys.exit(USAGE_EXIT)


def log_client(
    url: str, token: str | None, tls: ssl.SSLContext | None = None, credential: Credential | None = None
) -> httpx.Client:
    """The HTTP client of the log at ``url``, sending ``token`` as a bearer login token when given, or signing
    each read as ``credential`` says (``--as``; the token is then left unsent), over the TLS context ``tls``
    (``ClientCert.context``) for an https URL."""
    auth = None if credential is None else credential.auth
    headers = {} if token is None or auth is not None else {"Authorization": f"Bearer {token.strip()}"}
    verify: ssl.SSLContext | bool = True if tls is None else tls
    return httpx.Client(base_url=url.rstrip("/") + "/", timeout=HTTP_TIMEOUT, headers=headers, verify=verify, auth=auth)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _echo_conflict(exc: CheckpointConflictError, previous: VerifiedCheckpoint, state_path: Path) -> None:
    """Say which two checkpoints disagree and keep the refused one beside the state file."""
    click.echo(f"✗ consistency — {exc.detail}")
    click.echo(
        f"  verified before: {describe_checkpoint(exc.previous)} (read from {previous.url} on "
        f"{_when(previous.verified_ms)}, kept in {state_path})"
    )
    click.echo(f"  the log now:     {describe_checkpoint(exc.current)}")
    try:
        kept = f"kept as evidence in {save_refused(state_path, exc.note, exc.current)}"
    except LogStateError as error:
        kept = f"not kept: {error}"
    click.echo(
        f"log {exc.current.origin} REFUSED ({exc.kind}): the state file is unchanged; the log's signed "
        f"checkpoint is {kept}",
        err=True,
    )


def _keep(state_path: Path, report: MirrorReport, url: str, roots: TrustRoots) -> tuple[str | None, str | None]:
    """Keep the checkpoint just verified for the next run, unless a run that ended meanwhile kept a larger one
    (which extends this one: both were checked against the log). Returns the line that says what the state file
    holds now, or the problem that kept it from being written."""
    from notary.log.checkpoint import parse_checkpoint
    from notary.log.note import parse_note

    checkpoint = parse_checkpoint(parse_note(report.note).text)
    try:
        kept = load_state(state_path, roots.log, _rotated(roots))
        if kept is not None and kept.checkpoint.size > checkpoint.size:
            return f"a larger checkpoint ({describe_checkpoint(kept.checkpoint)}) is kept in {state_path}", None
        save_state(state_path, VerifiedCheckpoint(checkpoint, report.note, int(time.time() * 1000), url))
    except LogStateError as exc:
        return None, str(exc)
    return f"checkpoint of size {checkpoint.size} kept in {state_path} for the next run", None


def list_events(
    fetch: Fetch, org: str | None = None, since_ms: int | None = None, own: bool = False
) -> list[dict[str, object]]:
    """Every event the notary lists for this credential (``GET /v1/events``, page after page): its firm's, or
    ``org``'s (every firm's without it) for a regulator; with ``own``, the credential's own firm's whoever it is."""
    found: list[dict[str, object]] = []
    start: int | None = 0
    while start is not None:
        query = f"v1/events?from={start}" + (f"&org={quote(org, safe='')}" if org else "")
        query += (f"&since_ms={since_ms}" if since_ms is not None else "") + ("&own=true" if own else "")
        try:
            page = json.loads(fetch(query))
            found.extend(page["events"])
            start = page["next"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NotaryError(f"the notary's answer to {query} is not a list of events ({exc})") from exc
    return found


@verify.command("events")
@click.argument("url")
@click.option(
    "--token",
    envvar="CONSORTIUM_TOKEN",
    default=None,
    help="A login token (`consortium user token`): a member's lists its firm's events, a regulator's every "
    "firm's. Default: $CONSORTIUM_TOKEN.",
)
@click.option(
    "--org", default=None, help="A regulator's: list this firm's events only (a member's own is the default)."
)
@click.option(
    "--since",
    default=None,
    metavar="TIME",
    help="Only events at or after TIME: an ISO 8601 date or time (UTC unless it says otherwise), or unix ms.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of one line per event.")
@click.option(
    "--consortium",
    "consortium",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="consortium.json, whose member CAs check an https notary's server certificate.",
)
@reader_option("a member's lists its firm's events, a regulator's every firm's (needs --consortium).")
@client_cert_options
@click.pass_context
def verify_events_cmd(
    ctx: click.Context, url: str, token: str | None, org: str | None, since: str | None, as_json: bool,
    consortium: Path | None, as_org: str | None, cert_file: Path | None, key_file: Path | None,
    passphrase_file: Path | None, ca: Path | None,
) -> None:  # fmt: skip
    """List the events of your firm in the log served at URL: those it is caller or provider of, as the notary
    filters them for this credential. Their ids go to `verify log --event`, or use `verify log --mine`."""
    if not url.startswith(("http://", "https://")):
        raise click.UsageError(f"URL must start with http:// or https://, got {url!r}")
    since_ms = None if since is None else _parse_since(since)
    credential = signed_reader(ctx, consortium, as_org, token, passphrase_file)
    tls = ClientCert(cert_file, key_file, passphrase_file, ca).context(url, consortium)
    with log_client(url, token, tls, credential) as client:
        try:
            found = list_events(_fetcher(client, cert_file is not None, credential), org, since_ms)
        except ReadRefusedError as exc:
            click.echo(f"error: the notary refuses {credential.named} the listing: {exc}", err=True)
            sys.exit(USAGE_EXIT)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for e in found:
        click.echo(
            f"{e['index']}\t{e['event_id']}\t{_when(int(str(e['time_ms'])))}\t{e['caller_org']} → "
            f"{e['provider_org']}\t{e['decision']}\t{e['status']}"
        )
    click.echo(f"{len(found)} event(s)", err=True)


def _parse_since(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        why = f"{text!r} is neither an ISO 8601 date or time nor unix ms"
        raise click.BadParameter(why, param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _echo_log_report(
    report: MirrorReport,
    no_chain: bool,
    chain: ChainAnchors,
    sm: bool,
    state_path: Path | None,
    previous: VerifiedCheckpoint | None,
    kept: str | None = None,
) -> None:
    """Say what was verified and what was not, one line per check, then the verdict."""
    size = report.size
    key = f" ({report.log_key})" if report.log_key else ""
    click.echo(f"✓ checkpoint — size {size}, root {report.root.hex()}, signed by {report.origin}{key}")
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
        for line in anchor_signature_lines(chain, sm):
            click.echo(line)
    if state_path is None:
        click.echo(
            "- consistency — not checked (--no-state): no checkpoint verified before is compared and none is kept; "
            "the anchors on chain are the earlier roots it is checked against"
        )
    elif previous is None:
        click.echo(
            f"- consistency — first use: no checkpoint verified before in {state_path}; this one is trusted on "
            "first use and kept, and the next run requires the log to extend it"
        )
    else:
        click.echo(f"✓ consistency — {report.consistency}, verified on {_when(previous.verified_ms)}")
    if kept is not None:
        click.echo(f"✓ state — {kept}")
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


def _certificate_alert(exc: BaseException) -> str | None:
    """The TLS alert by which a server refused the client's certificate, if that is what ended ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and "ALERT" in str(seen.reason or ""):
            return str(seen.reason)
        seen = seen.__cause__ or seen.__context__
    return None


def _fetcher(client: httpx.Client, with_certificate: bool = False, credential: Credential | None = None) -> Fetch:
    """GET each path below the log's URL; 404 → NotFoundError, 401 and 403 → ReadRefusedError (the credential,
    not the log; for signed reads, ``credential``, the hint of a 401 is about its key), and so is, when the client
    presents a certificate (``with_certificate``), a TLS alert about it or a connection the notary closes without
    an answer (under TLS 1.3 a server refuses a client certificate after the client's side of the handshake, so
    the client sees only that); anything else but 200 → NotaryError."""

    def fetch(path: str) -> bytes:
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            alert = _certificate_alert(exc)
            if with_certificate and alert is not None:
                raise ReadRefusedError(
                    f"TLS handshake for {path} refused: {alert} (give a member CA's --cert)"
                ) from exc
            if with_certificate and isinstance(exc, httpx.RemoteProtocolError):
                raise ReadRefusedError(
                    f"the notary closed the connection for {path} without an answer, as it does with a client "
                    "certificate no member CA issued (give a member's --cert and --key)"
                ) from exc
            raise NotaryError(f"cannot fetch {path}: {exc.__class__.__name__}: {exc}") from exc
        if response.status_code == 404:
            raise NotFoundError(f"404 for {path}")
        if response.status_code in (401, 403):
            try:
                error = str(response.json().get("error"))
            except (ValueError, AttributeError):
                error = response.text[:200]
            message = f"HTTP {response.status_code} for {path}: {error}"
            if response.status_code == 401 and credential is not None and credential.reader is not None:
                org = credential.reader.partition("/")[0]
                message += (
                    f" (--as {org} signs with the gateway key in orgs/{org} beside consortium.json: the notary takes "
                    "a member's gateway key valid now)"
                )
            elif response.status_code == 401:
                message += (
                    " (give a member's or a regulator's --token or --as ORG, or a member's --cert and --key over https)"
                )
            raise ReadRefusedError(message)
        if response.status_code != 200:
            raise NotaryError(f"HTTP {response.status_code} for {path}")
        return bytes(response.content)

    return fetch


@dataclasses.dataclass(frozen=True, slots=True)
class ChainAnchors:
    """The anchors of the log's origin on chain, and for an ``sm`` log whether AuditAnchor checked each one's SM2
    signature (``AnchorClaim.signature_key``). ``signed_only``: the AuditAnchor refuses unchecked anchors (every
    ``sm`` consortium deployed since it could); ``signatures``: whether the question applies (an ``sm`` log and an
    AuditAnchor with ``anchor_signed``)."""

    claims: list[AnchorClaim]
    signed_only: bool = False
    signatures: bool = False
    #: ``verify log``'s lines on the retired AuditAnchors read beside the current one (``read_all_anchors``).
    retired_lines: tuple[str, ...] = ()
    #: The largest size anchored on a retired AuditAnchor that counts (0: none).
    retired_size: int = 0


def _anchor_mismatch(detail: str) -> LogMismatchError:
    return LogMismatchError("anchors", detail)


def read_anchors(
    client: AuditAnchorClient, origin: str, sm: bool, trust_directory: str | None, block: int | None = None
) -> ChainAnchors:
    """Every anchor of ``origin`` (AuditAnchor ``anchor_count``/``size_at``/``at_size``), checked against ``latest``;
    for an ``sm`` log (``sm``) also whether each was checked on chain, the AuditAnchor's ``signed_only``, and that
    the TrustDirectory it checks log keys in is the consortium's (``trust_directory``, from ``consortium.json``).
    Raises LogMismatchError (where: ``anchors``) when they disagree, the chain client's errors when it cannot read.

    Every read is of one block, ``block`` (None: the head when it starts): the notary anchors while it reads, and a
    list read over several blocks could end before an anchor that ``latest``, read later, already names."""
    if block is None:
        block = int(client.backend.web3.eth.block_number)
    sizes = [client.size_at(origin, i, block) for i in range(client.count(origin, block))]
    found = [(size, client.at_size(origin, size, block)) for size in sizes]
    latest = client.latest(origin, block)
    signed_only = signatures = False
    keys: dict[int, int | None] = {}
    if sm:
        signed_only = client.signed_only(block)
        directory = client.trust_directory(block)
        if directory is not None:  # None: deployed before anchor_signed, or without a TrustDirectory: unchecked
            keys = {size: client.signature_key(origin, size, block) for size in sizes}
            signatures = True
        relied_on = signed_only or any(k is not None for k in keys.values())
        if relied_on and trust_directory is not None and int(directory or "0x0", 16) != int(trust_directory, 16):
            raise _anchor_mismatch(
                f"AuditAnchor checks log keys in the TrustDirectory {directory}, not in the consortium's "
                f"{trust_directory}: its signature checks prove nothing"
            )
    claims = []
    for size, info in found:
        if info is None:
            raise _anchor_mismatch(f"AuditAnchor lists size {size} for {origin} but holds no anchor of that size")
        key = keys.get(size)
        if signed_only and key is None:
            raise _anchor_mismatch(f"AuditAnchor refuses unsigned anchors, yet holds size {size} unchecked")
        claims.append(AnchorClaim(size, info.root_hash, info.checkpoint_digest, info.block_number, key))
    if claims and (latest is None or (latest.tree_size, latest.root_hash) != (claims[-1].size, claims[-1].root)):
        raise _anchor_mismatch(f"AuditAnchor.latest disagrees with its own list of anchors for {origin}")
    return ChainAnchors(claims, signed_only, signatures)


def read_all_anchors(
    backend: Backend, address: str, retired: Sequence[RetiredAnchor], origin: str, sm: bool, trust_directory: str | None
) -> ChainAnchors:
    """``read_anchors`` of the AuditAnchor at ``address`` and of each retired one (``consortium.json``'s
    ``retired_anchors``): a retired one's anchors count up to the last size recorded when the consortium moved off
    it, whose root must still be the one recorded; any it took later are left out and said so. Raises
    LogMismatchError as ``read_anchors`` does, and when a retired AuditAnchor lacks its recorded last anchor. Every
    AuditAnchor is read as of one block, the head when it starts."""
    from chain.contracts import AuditAnchorClient

    block = int(backend.web3.eth.block_number)
    current = read_anchors(AuditAnchorClient(backend, address), origin, sm, trust_directory, block)
    claims: dict[int, AnchorClaim] = {}
    lines: list[str] = []
    signatures = current.signatures
    for r in retired:
        old = read_anchors(AuditAnchorClient(backend, r.address), origin, sm, trust_directory, block)
        signatures = signatures or old.signatures
        kept = [c for c in old.claims if c.size <= r.last_size]
        last = next((c for c in kept if c.size == r.last_size), None)
        if r.last_size and (last is None or last.root != r.last_root):
            found = "no anchor" if last is None else "root 0x" + last.root.hex()
            raise _anchor_mismatch(
                f"the retired AuditAnchor {r.address} holds {found} at size {r.last_size}, where consortium.json "
                f"records its last anchor with root 0x{(r.last_root or b'').hex()}"
            )
        later = [c.size for c in old.claims if c.size > r.last_size]
        lines.append(
            f"✓ retired AuditAnchor {r.address} — {len(kept)} anchor(s) up to its recorded last size {r.last_size}"
            + ("" if not later else f"; {len(later)} it took later left out: " + ", ".join(map(str, later)))
        )
        claims.update((c.size, c) for c in kept)
    retired_size = max((r.last_size for r in retired), default=0)
    claims.update((c.size, c) for c in current.claims)
    merged = [claims[size] for size in sorted(claims)]
    return ChainAnchors(merged, current.signed_only, signatures, tuple(lines), retired_size)


def _anchors(
    description: ConsortiumDescription, roots: TrustRoots, chain_url: str | None, backend: Any = None
) -> ChainAnchors:
    """``read_anchors`` from the chain at ``chain_url`` (default: consortium.json's), through ``backend`` if given;
    a chain that cannot be read, or anchors that disagree, end the command with exit status 1."""
    from chain.backend import RpcBackend

    url = chain_url or description.chain_url
    sm = roots.suite.name == "sm"
    try:
        backend = backend or RpcBackend(url)
        if backend.chain_id != roots.chain_id:
            _fail_anchors(f"the chain at {url} has chain id {backend.chain_id}, consortium.json says {roots.chain_id}")
        trust = description.contracts.get("TrustDirectory")
        return read_all_anchors(backend, roots.anchor_address, description.retired_anchors, roots.origin, sm, trust)
    except LogMismatchError as exc:
        _fail_anchors(exc.detail)
    except Exception as exc:  # web3, requests and our ChainError alike: the anchors could not be read
        _fail_anchors(f"cannot read AuditAnchor {roots.anchor_address} at {url}: {exc.__class__.__name__}: {exc}")


def _rotated(roots: TrustRoots) -> list[LogVerifier]:
    """Every log key on chain, for a state file kept under one of them."""
    return [] if roots.log_keys is None else [k.verifier for k in roots.log_keys.keys]


def anchor_signature_lines(chain: ChainAnchors, sm: bool) -> list[str]:
    """What ``verify log`` says of the anchors' signatures: which were checked on chain and which were not."""
    if not sm:
        return [
            "- anchor signatures — not applicable: an intl log's Ed25519 key has no on-chain check (the chain has no "
            "Ed25519 precompile); the anchors' roots are checked above"
        ]
    checked = [c for c in chain.claims if c.signature_key is not None]
    unchecked = [c for c in chain.claims if c.signature_key is None]
    lines = list(chain.retired_lines)
    if checked:
        keys = ", ".join(str(k) for k in sorted({c.signature_key for c in checked if c.signature_key is not None}))
        only = "AuditAnchor takes signed anchors only; " if chain.signed_only else ""
        lines.append(
            f"✓ anchor signatures — {only}{len(checked)} of {len(chain.claims)} anchor(s) checked on chain against "
            f"the notary's SM2 log key (anchor_signed; TrustDirectory record {keys}): "
            + ", ".join(str(c.size) for c in checked)
        )
    elif chain.signed_only:
        lines.append("✓ anchor signatures — AuditAnchor takes signed anchors only; none anchored yet")
    if unchecked:
        why = (
            "anchored on a retired AuditAnchor, before the move to one that takes signed anchors only"
            if chain.retired_size and all(c.size <= chain.retired_size for c in unchecked)
            else "this AuditAnchor cannot check signatures: deployed before anchor_signed, or without a TrustDirectory"
            if not chain.signatures
            else "plain anchor, which this AuditAnchor, deployed before sm consortia refused it, still takes"
        )
        lines.append(
            f"- anchor signatures — {len(unchecked)} anchor(s) NOT checked on chain ({why}): "
            + ", ".join(str(c.size) for c in unchecked)
            + "; checked offline instead: their roots against the tree whose checkpoint the log's SM2 key signs"
        )
    return lines


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
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The evidence bundle of the job's record-step event: checked as `verify evidence` checks it (with "
    "--consortium and the same options), then required to name this record, the record's client as caller and its "
    "server as provider, under the job's tag. Without it, the record's keys are checked against nothing.",
)
@click.option(
    "--consortium",
    "consortium",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --evidence: the consortium's public description (consortium.json), the keys and addresses to trust.",
)
@evidence_trust_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def verify_disclosure_cmd(
    proof: Path, record: Path | None, evidence: Path | None, consortium: Path | None, validators: tuple[str, ...],
    chain_url: str | None, offline: bool, chain_cert: Path | None, chain_key: Path | None, chain_ca: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Check a disclosure document: exit 0 and say what it proves, or 1 if it proves nothing.

    With --evidence, the record is bound to the audit log: the bundle is checked as `verify evidence` checks it,
    and its event must be the record step of this job. Without it, the record's signatures are checked under the
    keys the record names, which nothing checks against the firms' keys."""
    from sdk.disclosure import verify_disclosure

    if evidence is None and (consortium is not None or validators or chain_url is not None or offline):
        raise click.UsageError("--consortium, --validator, --chain-url and --offline go with --evidence")
    if evidence is not None and consortium is None:
        raise click.UsageError("--evidence is checked under consortium.json: give --consortium")
    report = verify_disclosure(proof, record=record, check=False)  # the document first, before any evidence is read
    if report.claim is None:
        click.echo(f"error: the disclosure in {proof} does NOT verify: {report.error}", err=True)
        sys.exit(FAILED_EXIT)
    if evidence is not None and consortium is not None:
        bundle = _load_json(evidence, "evidence bundle")
        roots = evidence_roots(bundle, consortium, validators, chain_url, offline, chain_cert, chain_key, chain_ca)
        assert report.document is not None
        report = verify_disclosure(report.document, record=record, evidence=bundle, description=roots, check=False)
        checked = report.evidence
        assert checked is not None
        for step in checked.steps:  # with --json, the steps go to standard error, the JSON alone to standard output
            click.echo(step.to_text(), err=as_json)
        if not checked.ok:
            click.echo(checked.verdict(), err=True)
            sys.exit(FAILED_EXIT)
        for step in report.binding:
            click.echo(step.to_text(), err=as_json)
        failed = [s.name for s in report.binding if s.ok is False]
        if failed:
            click.echo(
                f"error: the record of {proof} is NOT the one event {checked.event_id!r} logged: {', '.join(failed)}",
                err=True,
            )
            sys.exit(FAILED_EXIT)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    for step in report.checks:
        click.echo(step.to_text())
    click.echo(report.verdict())


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
    from notary.bundle import BundleParts
    from notary.log.errors import MalformedError
    from notary.submit.reveal import Revealed

    try:
        revealed = Revealed.from_json(_load_json(file, "reveal document"))
    except NotaryError as exc:
        raise click.UsageError(f"{file}: {exc}") from None
    event = revealed.event
    checks: list[tuple[str, bool | None, str]] = []
    if evidence is not None:
        bundle = _load_json(evidence, "evidence bundle")
        bundled = BundleParts.from_json(bundle).entry if isinstance(bundle, dict) else None
        if bundled is None or isinstance(bundled, MalformedError):
            why = "not a JSON object" if bundled is None else str(bundled)
            checks.append(("entry", False, f"the evidence bundle's entry cannot be read: {why}"))
        else:
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
