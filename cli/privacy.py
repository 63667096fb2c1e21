"""``consortium privacy ...``: a party's side of privacy computing, from the files it kept after a job.

- ``privacy prove-member JOB_FILES... --id ID [--set input|result] [--out FILE]``: the disclosure document
  (``privacy.document``, ``consortium-ledger/privacy-disclosure/v1``) of whether ID was in the party's input
  (or, at the client, in the result): a proof of membership if it was, of non-membership if not. JOB_FILES are
  the files ``privacy.jobfiles`` names: ``record.json``, ``vrf-key.json`` and the set files, in any order.

An auditor checks the document with ``consortium verify disclosure``.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli._common import fail


@click.group("privacy")
def privacy_group() -> None:
    """Privacy computing: disclosure proofs from a party's kept job files."""


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
def prove_member(job_files: tuple[Path, ...], identifier: str, set_name: str, out: Path | None) -> None:
    """Prove whether ID was in this party's set of a job: a member proof if it was, a non-member proof if not."""
    from privacy.document import format_document, prove_document
    from privacy.errors import PrivacyError
    from privacy.identifiers import normalise_identifier
    from privacy.jobfiles import read_job_files

    try:
        normal = normalise_identifier(identifier)
        files = read_job_files({str(path): path.read_bytes() for path in job_files})
        committed = files.committed(set_name)  # type: ignore[arg-type]
        document = prove_document(files.record, committed, files.key.party, set_name, normal)  # type: ignore[arg-type]
    except PrivacyError as exc:
        fail(str(exc))
    data = format_document(document)
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        out.write_bytes(data)
    record = files.record.record
    org = record.client.org if set_name == "result" else record.party(files.key.party).org
    verb = "was" if document.proof.member else "was not"
    where = f"the result of job {record.job_id}" if set_name == "result" else f"{org}'s input of job {record.job_id}"
    kind = "membership" if document.proof.member else "non-membership"
    click.echo(
        f"{kind} proof: identifier {normal} {verb} in {where}" + (f"; written to {out}" if out else ""), err=True
    )
