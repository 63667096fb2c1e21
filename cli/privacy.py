"""``consortium privacy ...``: a party's side of privacy computing: running a PSI job through the owner's
gateway, serving one as the owner, and disclosure proofs from the files a party kept after a job.

- ``privacy terms ASSET --as ORG --max-input N --steps ROUTE``: the owner's PSI terms document of its identifier
  set (``privacy.asset``; an X25519 key drawn once and kept encrypted beside it), written to
  ``orgs/ORG/privacy/ASSET.terms.json``; its SHA-256 is the asset's metadata digest
  (``consortium asset register|version ... --metadata-file`` that file). The owner's gateway applies it.
- ``privacy grant-terms ASSET --as ORG --grant ID --max-input N [--dp-*] | --clear``: terms of one grant of the
  set (``privacy.asset``: its own cap and DP options, for its grantee only), checked against the chain (a grant of
  ASSET, made by ORG; its grantee read from the chain, or from ORG's terms store for a private grant), written to
  ``orgs/ORG/privacy/ASSET.grants/ID.terms.json`` and listed by digest in ``ASSET.terms.json``, which the owner
  publishes as the asset's next version like any change of terms.
- ``privacy serve ASSET --as ORG --ids FILE --port P``: the owner's PSI service (``privacy.service``), the upstream
  of the three step APIs behind its gateway; job files to ``orgs/ORG/privacy/jobs/<job id>/``.
- ``privacy run ASSET --as ORG [--gateway URL] --purpose P --ids FILE``: a job as the client (``sdk.privacy``), under
  the suite ``consortium.json`` names (``ecdh-psi-sm2`` and SM2-signed records under ``sm``, ``privacy.suites``): the
  grant, the terms' digest and the steps' route read from the chain (and the grant's own terms, when the asset's
  terms list some for it, from the owner's service, checked against that list), the owner's key from
  ``consortium.json``, the owner's gateway from ``--gateway`` or else ``gateways/endpoints.json`` (what ``consortium
  up`` started); prints the intersection's size, where the job files (``privacy.jobfiles``) are, each step's event id
  and the job's tag (``privacy.asset.job_tag``), which names the job's page in the explorer. The record step's event
  id, and the notary's URL ``consortium.json`` records, are kept in the job files' ``record-step.json``.
  ``--retries N`` sends a step the owner's service did not answer (it stopped during the step), or whose answer
  broke off after its headers, again, N times at most (``sdk.privacy.run_psi_job``).
- ``privacy prove-member JOB_FILES... --id ID [--set input|result] [--out FILE]``: the disclosure document
  (``privacy.document``, ``consortium-ledger/privacy-disclosure/v1``) of whether ID was in the party's input
  (or, at the client, in the result): a proof of membership if it was, of non-membership if not. JOB_FILES are
  the files ``privacy.jobfiles`` names: ``record.json``, ``vrf-key.json``, the set files and ``record-step.json``,
  in any order. With ``--as ORG``, also the evidence bundle of the job's record step: the event that
  ``record-step.json`` names (``privacy run`` and the owner's PSI service keep it), or ``--event ID``, which
  overrides it; fetched as ``sdk.MemberClient.evidence`` fetches it once anchored and checked to be the job's
  record step (``privacy.document.disclosure_binding``), beside the document or at ``--evidence-out``. Both through
  ``sdk.disclosure`` (``make_disclosure``, ``fetch_record_evidence``), which a firm's code calls directly.

An auditor checks the document with ``consortium verify disclosure``, and with ``--evidence BUNDLE`` that its
record is the one the owner's gateway logged.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli._common import DENIED_EXIT, Context, as_option, fail, json_option, name_arg, pass_ctx

if TYPE_CHECKING:
    from sdk.disclosure import Disclosure


@click.group("privacy")
def privacy_group() -> None:
    """Privacy computing: PSI jobs through the gateways, and disclosure proofs from a party's kept job files."""


@privacy_group.command("terms")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--max-input", type=click.IntRange(1, 2**31), required=True, help="Most identifiers per party.")
@click.option("--steps", required=True, help="Base route of the step APIs, e.g. /v1/privacy/customer-ids.")
@click.option("--dp-epsilon", default=None, metavar="EPSILON",
              help="The log holds each job's result count only as ε-differentially private (e.g. 1).")  # fmt: skip
@click.option("--dp-inputs", is_flag=True, default=False,
              help="With --dp-epsilon: each party's input count gets noise too (a job spends 3ε).")  # fmt: skip
@click.option("--dp-budget", default=None, metavar="BUDGET",
              help="With --dp-epsilon: the total ε the jobs of one grant may spend (e.g. 10); the owner's gateway "
                   "refuses a job past it.")  # fmt: skip
@as_option
@pass_ctx
def terms(
    obj: Context,
    asset_id: str,
    max_input: int,
    steps: str,
    dp_epsilon: str | None,
    dp_inputs: bool,
    dp_budget: str | None,
    as_org: str,
) -> None:
    """Write the PSI terms of ASSET_ID (an identifier set of the org) and print their digest."""
    from privacy.asset import terms_digest
    from sdk.privacy import PsiSetupError, write_psi_terms

    try:
        path, document = write_psi_terms(
            obj.directory, as_org, asset_id, max_input, steps, obj.passphrase(), dp_epsilon, dp_budget, dp_inputs
        )
    except PsiSetupError as exc:
        fail(str(exc))
    click.echo(f"PSI terms of {asset_id}: {path} (metadata digest 0x{terms_digest(document).hex()})")
    click.echo(f"publish them: consortium asset version {asset_id} --metadata-file {path} ... --as {as_org}")


@privacy_group.command("grant-terms")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--grant", "grant_id", required=True, help="The grant (0x and 64 hex digits) of ASSET_ID.")
@click.option("--max-input", type=click.IntRange(1, 2**31), default=None,
              help="Most identifiers per party in this grant's jobs.")  # fmt: skip
@click.option("--dp-epsilon", default=None, metavar="EPSILON", help="As for `privacy terms`, for this grant.")
@click.option("--dp-inputs", is_flag=True, default=False, help="As for `privacy terms`, for this grant.")
@click.option("--dp-budget", default=None, metavar="BUDGET", help="As for `privacy terms`, for this grant.")
@click.option("--clear", is_flag=True, default=False,
              help="Remove the grant's own terms: it runs under the asset's terms again.")  # fmt: skip
@json_option
@as_option
@pass_ctx
def grant_terms(
    obj: Context,
    asset_id: str,
    grant_id: str,
    max_input: int | None,
    dp_epsilon: str | None,
    dp_inputs: bool,
    dp_budget: str | None,
    clear: bool,
    as_json: bool,
    as_org: str,
) -> None:
    """Give GRANT of ASSET_ID (an identifier set of the org) PSI terms of its own, or --clear them."""
    import json

    from privacy.asset import terms_digest
    from privacy.record import GRANT_ID
    from sdk.privacy import PsiSetupError, write_grant_terms

    grant_id = grant_id.lower()
    if GRANT_ID.match(grant_id) is None:
        fail(f"--grant {grant_id!r} must be 0x and 64 hex digits")
    if clear == (max_input is not None):
        fail("give the grant's terms (--max-input N, and --dp-* as for `privacy terms`), or --clear")
    if clear and (dp_epsilon is not None or dp_budget is not None or dp_inputs):
        fail("--clear takes no --dp-* options")
    c = obj.consortium()
    raw = bytes.fromhex(grant_id[2:])
    clear_grant, private = c.grants.grant(raw), c.grants.private_grant(raw)
    grant = clear_grant or private
    if grant is None:
        fail(f"no grant {grant_id} on chain")
    if grant.asset != asset_id:
        fail(f"grant {grant_id} is of asset {grant.asset}, not {asset_id}: give terms to a grant of {asset_id}")
    if grant.grantor != as_org:
        fail(f"grant {grant_id} was made by {grant.grantor}, not {as_org}")
    grantee: str | None = None
    if clear_grant is not None:
        grantee = clear_grant.grantee
    elif not clear:  # a private grant's grantee is in the grantor's terms store, not on chain
        from network.grantterms import TermsStore

        record = TermsStore(obj.directory, as_org).by_grant(raw)
        if record is None:
            fail(f"the terms of private grant {grant_id} are not in {as_org}'s terms store")
        assert private is not None
        held = record.terms
        if (held.asset, held.grantor, held.key, held.commitment) != (
            private.asset, private.grantor, private.key, private.commitment
        ):  # fmt: skip
            fail(
                f"the terms {as_org}'s store holds for private grant {grant_id} do not match it on chain (its key "
                "and commitment): they are not the grant's terms, and the grantee they name may not be its grantee"
            )
        grantee = held.grantee
    try:
        path, document = write_grant_terms(
            obj.directory, as_org, asset_id, grant_id, grantee, None if clear else max_input, dp_epsilon, dp_budget,
            dp_inputs,
        )  # fmt: skip
    except PsiSetupError as exc:
        fail(str(exc))
    digest = "0x" + terms_digest(document).hex()
    if as_json:
        click.echo(
            json.dumps({"grant_id": grant_id, "grantee": grantee, "terms": str(path), "metadata_digest": digest})
        )
        return
    what = "the asset's terms again" if clear else f"terms of its own ({grantee}'s)"
    click.echo(f"grant {grant_id} of {asset_id}: {what}; PSI terms {path} (metadata digest {digest})")
    click.echo(f"publish them: consortium asset version {asset_id} --metadata-file {path} ... --as {as_org}")
    click.echo(f"then restart {as_org}'s gateway and `privacy serve {asset_id}` (open jobs survive the restart)")


@privacy_group.command("serve")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--ids", "ids_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The org's identifiers, one a line.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="0: any free port (printed).")
@click.option("--jobs", "jobs_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the job files go; default DIR/orgs/ORG/privacy/jobs.")  # fmt: skip
@as_option
@pass_ctx
def serve(
    obj: Context, asset_id: str, ids_file: Path, host: str, port: int, jobs_dir: Path | None, as_org: str
) -> None:
    """Serve PSI jobs on ASSET_ID as its owner, behind the org's gateway, until SIGTERM."""
    import asyncio

    from privacy.service import serve as serve_psi
    from sdk.privacy import PsiSetupError, open_psi_service, read_identifiers

    try:
        service = open_psi_service(
            obj.directory, as_org, asset_id, read_identifiers(ids_file), obj.passphrase(), jobs_dir
        )
    except PsiSetupError as exc:
        fail(str(exc))
    asset_terms = service.terms

    def ready(bound: int) -> None:
        click.echo(f"PSI service of {asset_id} ({as_org}) on http://{host}:{bound}{asset_terms.steps}/", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_psi(service, host, port, ready))


@privacy_group.command("run")
@click.argument("asset_id", callback=name_arg("asset id"))
@click.option("--gateway", "gateway_url", default=None,
              help="The owner's gateway, e.g. https://host:9443; default: the owner's in DIR/gateways/endpoints.json, "
              "which `consortium up` writes.")  # fmt: skip
@click.option("--purpose", required=True, callback=name_arg("purpose"), help="The grant's purpose, e.g. aml-screening.")
@click.option("--ids", "ids_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This org's identifiers, one a line.")  # fmt: skip
@click.option("--name", default="client", show_default=True, help="The identity <name>@ORG that calls.")
@click.option("--job-id", default=None, help="Default: a fresh random id.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the job files; default DIR/orgs/ORG/privacy/jobs/<job id>.")  # fmt: skip
@click.option("--retries", type=click.IntRange(0, 20), default=0, show_default=True,
              help="Send a step again up to this many times when the owner's service gave no answer (it stopped "
              "during the step: the gateway's 502, 503 or 504) or its answer broke off after its headers, 2 s "
              "apart, doubling; the same step gets the same answer and counts no second run.")  # fmt: skip
@json_option
@as_option
@pass_ctx
def run(
    obj: Context,
    asset_id: str,
    gateway_url: str | None,
    purpose: str,
    ids_file: Path,
    name: str,
    job_id: str | None,
    out: Path | None,
    retries: int,
    as_json: bool,
    as_org: str,
) -> None:
    """Run a PSI job on ASSET_ID through its owner's gateway, as the client (the side that learns the result)."""
    import json
    import time

    from gateway.psi import terms_dir
    from privacy.errors import PrivacyError
    from privacy.jobfiles import RECORD_FILE, RECORD_STEP_FILE, write_job_files
    from sdk import MemberClient, SdkError
    from sdk.privacy import PsiRefusedError, PsiSetupError, load_signing_key, read_identifiers, run_psi_job

    c = obj.consortium()
    info = c.assets.asset(asset_id)
    if info is None:
        fail(f"asset {asset_id} is not registered")
    version = c.assets.version(asset_id, info.version_count)
    assert version is not None
    routes = [a.route for a in c.assets.apis() if a.asset == asset_id and a.active and a.route.endswith("/terms")]
    if not routes:
        fail(f"asset {asset_id} has no PSI step APIs in the catalogue (a route ending in /terms)")
    steps = routes[0][: -len("/terms")]
    from chain.contracts.privatecheck import UnprovenError
    from network.grantterms import TermsStore, decide, trusted_heads
    from network.keptheader import cli_header_path

    # the grant the owner's gateway will decide under: a private one when this org holds its terms, its words proven
    # from the header kept beside consortium.json
    store = TermsStore(obj.directory, as_org)
    proven = trusted_heads(c.backend, c.description, cli_header_path(obj.directory))
    try:
        check = decide(c.grants, store, asset_id, as_org, purpose, int(time.time()), proven=proven).result
    except UnprovenError as exc:
        fail(f"no answer: the chain's words for the private grant are not proven: {exc}")
    if proven is not None and proven.keep_problem is not None:
        click.echo(f"warning: the newest trusted header is not kept: {proven.keep_problem}", err=True)
    grant_id = "0x" + (check.grant_id.hex() if check.grant_id is not None else "00" * 32)
    passphrase = obj.passphrase()
    server_key = c.description.member(info.owner).identity.gateway_public_key
    gateway_url = gateway_url or _gateway_of(obj.directory, info.owner)
    try:
        signing_key = load_signing_key(obj.directory, as_org, passphrase)  # of the suite consortium.json names
    except PsiSetupError as exc:
        fail(str(exc))
    try:
        with MemberClient.from_directory(
            obj.directory, as_org, name=name, passphrase=passphrase, notary_url=c.description.notary_url
        ) as client:  # the notary's URL only goes into record-step.json
            job = run_psi_job(
                client,
                gateway_url,
                steps,
                org=as_org,
                purpose=purpose,
                grant_id=grant_id,
                identifiers=read_identifiers(ids_file),
                signing_key=signing_key,
                metadata_digest=version.metadata_digest,
                server_key=server_key,
                job_id=job_id,
                suite=c.description.crypto,
                retries=retries,
            )
    except PsiRefusedError as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(DENIED_EXIT)
    except (SdkError, PrivacyError) as exc:
        fail(str(exc))
    directory = out or terms_dir(obj.directory, as_org) / "jobs" / job.job_id
    write_job_files(directory, job.files)
    record = job.signed.record
    summary = {
        "job_id": job.job_id,
        "grant_id": record.grant_id,
        "intersection": len(job.intersection),
        "client_input": record.client.input.count,
        "server_input": record.server.input.count,
        "record": str(directory / RECORD_FILE),
        "files": str(directory),
        "events": job.event_ids,
        "record_step": str(directory / RECORD_STEP_FILE) if RECORD_STEP_FILE in job.files else None,
        "tag": job.tag,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"job {job.job_id}: {len(job.intersection)} shared identifiers ({record.client.input.count} here, "
        f"{record.server.input.count} at {record.server.org}), under grant {record.grant_id}"
    )
    click.echo(f"record: {directory / RECORD_FILE} (signed by {record.client.org} and {record.server.org})")
    click.echo(f"job files: {directory}")
    for step, event in job.event_ids.items():
        click.echo(f"  {step:8} event {event}")
    if RECORD_STEP_FILE in job.files:
        click.echo(f"record step's event kept in {directory / RECORD_STEP_FILE} (for prove-member --as)")
    click.echo(f"job tag: {job.tag} (the explorer's page of the job: #/jobs/{job.tag})")


def _gateway_of(directory: Path, org: str) -> str:
    """The URL of ``org``'s gateway that ``consortium up`` recorded, for a run without ``--gateway``."""
    import json

    from demo.traffic import ENDPOINTS_FILE

    path = directory / "gateways" / ENDPOINTS_FILE
    try:
        endpoints = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        fail(f"give --gateway URL (the gateway of {org}): there is no {path}, which `consortium up` writes")
    url = endpoints.get(org) if isinstance(endpoints, dict) else None
    if not isinstance(url, str):
        fail(f"give --gateway URL: {path} names no gateway of {org}")
    return url


@privacy_group.command("prove-member")
@click.argument("job_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "identifier", required=True, help="The identifier, e.g. CNID:11010519491231002X or ACCT:123.")
@click.option(
    "--set",
    "set_name",
    type=click.Choice(["input", "result"]),
    default="input",
    show_default=True,
    help="Which committed set: the party's input, or the result (the client's only).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the document here instead of to standard output.",
)
@click.option(
    "--event",
    "event_id",
    default=None,
    help="The event id of the job's record step, instead of the one record-step.json keeps (`privacy run` prints "
    "it). Needs --as.",
)
@click.option(
    "--evidence-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="With --as: write the evidence bundle here (default: beside --out, as NAME.evidence.json).",
)
@click.option(
    "--as",
    "as_org",
    default=None,
    callback=name_arg("org id"),
    help="Also fetch the evidence bundle of the job's record step from the notary, for `verify disclosure "
    "--evidence`, as the identity <name>@ORG of this member org (a party of the job).",
)
@click.option("--name", default="client", show_default=True, help="With --as: the identity <name>@ORG that reads.")
@click.option(
    "--notary-url",
    default=None,
    help="With --as: the notary (default: the one consortium.json records, else the one record-step.json keeps).",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="With --as: seconds to wait for the bundle to be anchored on chain.",
)
@pass_ctx
def prove_member(
    obj: Context, job_files: tuple[Path, ...], identifier: str, set_name: str, out: Path | None,
    event_id: str | None, evidence_out: Path | None, as_org: str | None, name: str, notary_url: str | None,
    wait_s: float,
) -> None:  # fmt: skip
    """Prove whether ID was in this party's set of a job: a member proof if it was, a non-member proof if not.

    With --as, also fetch the evidence bundle of the job's record step from the notary, once anchored, and write
    it beside the document: the event record-step.json among JOB_FILES names (`privacy run` keeps it), or --event
    (which `privacy run` prints). An auditor checks both with `consortium verify disclosure PROOF --evidence
    BUNDLE --consortium consortium.json`, needing no key from the firms."""
    from privacy.jobfiles import RECORD_STEP_FILE
    from sdk.disclosure import make_disclosure
    from sdk.privacy import PsiSetupError

    if as_org is None:
        if event_id is not None:
            raise click.UsageError("--event reads the notary as a party of the job: give --as ORG")
        if evidence_out is not None or notary_url is not None:
            raise click.UsageError("--evidence-out and --notary-url go with --as (the evidence of the record step)")
    else:
        if evidence_out is None and out is None:
            raise click.UsageError("--as: give --evidence-out FILE, or --out FILE to write the bundle beside it")
        evidence_out = evidence_out or out.with_name(out.stem + ".evidence.json")  # type: ignore[union-attr]
    try:
        disclosure = make_disclosure(job_files, identifier, set_name=set_name)  # type: ignore[arg-type]
    except PsiSetupError as exc:
        fail(str(exc))
    kept, origin = disclosure.record_step, ""
    if as_org is not None and event_id is None:
        if kept is None:  # said before anything is written, as the other options that cannot work are
            raise click.UsageError(
                f"--as fetches the evidence of the job's record step, but no {RECORD_STEP_FILE} among JOB_FILES names "
                f"its event (files kept before it existed, or of a job run without a gateway): give --event "
                f"EVENT_ID (the record step's event id, which `privacy run` printed), or leave out --as to write the "
                f"document alone"
            )
        event_id, origin = kept.event_id, f" (the record step's event, as {RECORD_STEP_FILE} keeps it)"
    elif event_id is not None and kept is not None and kept.event_id != event_id:
        click.echo(
            f"note: --event {event_id} overrides the event {kept.event_id} that {RECORD_STEP_FILE} keeps", err=True
        )
    data = disclosure.data
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        out.write_bytes(data)
    click.echo(disclosure.summary + (f"; written to {out}" if out else ""), err=True)
    if event_id is not None and as_org is not None and evidence_out is not None:
        kept_url = kept.notary_url if kept is not None else None
        _write_evidence(obj, disclosure, event_id, origin, evidence_out, as_org, name, notary_url, kept_url, wait_s)


def _write_evidence(
    obj: Context, disclosure: Disclosure, event_id: str, origin: str, path: Path, org: str, name: str,
    notary_url: str | None, kept_url: str | None, wait_s: float,
) -> None:  # fmt: skip
    """Fetch the evidence bundle of ``event_id`` as ``name@org`` (``sdk.disclosure.fetch_record_evidence``: once
    anchored, checked to be the record step of ``disclosure``'s job) and write it to ``path``; exit 1 saying how to
    fetch it later when it is not anchored after ``wait_s`` seconds, or naming what does not match (``origin``
    says where the event id came from). The notary is ``notary_url``, else the one consortium.json records, else
    ``kept_url`` (record-step.json's)."""
    from network.description import ServiceNotRecordedError, load_description
    from sdk import EvidenceNotReadyError, MemberClient, SdkError, VerificationFailedError
    from sdk.disclosure import fetch_record_evidence

    try:
        url = load_description(obj.directory).service_url("notary", notary_url)
    except ServiceNotRecordedError as exc:
        if kept_url is None:
            fail(str(exc))
        url = kept_url
    again = (
        f"fetch it later: run this command again, or `curl {url.rstrip('/')}/v1/evidence/{event_id}` as a party "
        "of the job"
    )
    try:
        with MemberClient.from_directory(
            obj.directory, org, name=name, passphrase=obj.passphrase(), notary_url=url
        ) as client:
            fetched = fetch_record_evidence(client, disclosure, event_id=event_id, wait_s=wait_s)
    except VerificationFailedError as exc:
        failed = [s for s in exc.report.steps if s.ok is False]
        fail(
            f"event {event_id!r}{origin} is not the record step of job {disclosure.claim.job_id}: "
            + "; ".join(f"{s.name}: {s.detail}" for s in failed)
        )
    except EvidenceNotReadyError as exc:
        fail(f"the document is written, but not the evidence: {exc}; {again}")
    except SdkError as exc:
        fail(f"the document is written, but not the evidence of event {event_id!r}: {exc}")
    fetched.write_evidence(path)
    bundle = fetched.evidence
    assert bundle is not None
    block = bundle.anchor.block.number if bundle.anchor is not None else None
    click.echo(
        f"evidence of the record step (event {event_id}, index {bundle.index}, block {block}) written to {path}",
        err=True,
    )
