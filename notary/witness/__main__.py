"""The witness as a process.

    python -m notary.witness --state PATH --key-file PEM [--passphrase-env VAR] --name NAME \\
        --log ORIGIN=VKEY [--log ORIGIN=VKEY ...] [--host 127.0.0.1] [--port 7380] [--max-body-bytes N]
    python -m notary.witness init --state PATH --origin ORIGIN [--checkpoint FILE]

The first form serves (``serve`` may be written before the options); the key file is a PKCS#8 PEM of an
Ed25519 key (the witness of ``intl`` logs) or an SM2 key (of ``sm`` logs, whose VKEYs are SM2 too), encrypted
with the passphrase in environment variable VAR if one is named. ``--log`` may repeat, also for one
origin (several trusted keys). ``init`` is the operator's step that registers a log, from size 0 or from a
trusted checkpoint (a checkpoint body or a signed note); a witness serves 404 for a log until it is registered.
Logs go to stderr, one JSON object per line; expected failures end with one ``error:`` line and exit code 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from chain.jsonlog import configure_json_logging
from notary.log.checkpoint import parse_checkpoint
from notary.log.errors import NotaryError
from notary.log.note import parse_note
from notary.logsuite import LogVerifier, PrivateKey, parse_log_vkey
from notary.witness.server import DEFAULT_HOST, DEFAULT_PORT, MAX_BODY_BYTES, WitnessConfig, serve
from notary.witness.state import init_witness
from suite.sm2 import SM2Error, SM2PrivateKey

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class CommandError(NotaryError, click.ClickException):
    """An expected failure: one ``error:`` line on stderr, exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def load_key(key_file: Path, passphrase_env: str | None) -> PrivateKey:
    """The Ed25519 or SM2 key of a PKCS#8 PEM file, decrypted with the passphrase in ``passphrase_env`` if
    named."""
    password: bytes | None = None
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if value is None:
            raise CommandError(f"environment variable {passphrase_env} (the key's passphrase) is not set")
        password = value.encode()
    data = key_file.read_bytes()
    try:
        key = load_pem_private_key(data, password)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        raise CommandError(f"{key_file.name}: {exc} (name the passphrase with --passphrase-env)") from None
    except (ValueError, UnsupportedAlgorithm):  # cryptography reads no SM2 key, nor SM4 encryption
        try:
            return SM2PrivateKey.from_pem(data, password)
        except SM2Error:
            raise CommandError(f"{key_file.name}: not a PKCS#8 PEM private key, or the passphrase is wrong") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CommandError(f"{key_file.name}: the witness key must be Ed25519 or SM2, not {type(key).__name__}")
    return key


def parse_logs(specs: Sequence[str]) -> dict[str, list[LogVerifier]]:
    """``ORIGIN=VKEY`` options as origin → trusted log keys (the origin ends at the first ``=``); a VKEY is an
    Ed25519 note key or an SM2 one of the profile."""
    logs: dict[str, list[LogVerifier]] = {}
    for spec in specs:
        origin, sep, vkey = spec.partition("=")
        if not sep or not origin:
            raise click.BadParameter(f"{spec[:100]!r} is not ORIGIN=VKEY", param_hint="--log")
        try:
            logs.setdefault(origin, []).append(parse_log_vkey(vkey))
        except NotaryError as exc:
            raise click.BadParameter(f"{origin}: {exc}", param_hint="--log") from None
    return logs


_state_option = click.option(
    "--state", "state", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The state file."
)


@click.command(context_settings=_CONTEXT)
@_state_option
@click.option(
    "--key-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="PKCS#8 PEM."
)
@click.option("--passphrase-env", metavar="VAR", help="Environment variable holding the key's passphrase.")
@click.option("--name", required=True, help="The witness's key name, e.g. <consortium>/witness/<org>.")
@click.option("--log", "logs", multiple=True, required=True, metavar="ORIGIN=VKEY", help="A log and its key.")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--max-body-bytes", default=MAX_BODY_BYTES, show_default=True, type=click.IntRange(1))
def serve_command(
    state: Path,
    key_file: Path,
    passphrase_env: str | None,
    name: str,
    logs: tuple[str, ...],
    host: str,
    port: int,
    max_body_bytes: int,
) -> None:
    """Serve C2SP tlog-witness add-checkpoint for the given logs.

    Register each log first with `python -m notary.witness init`; until then the witness answers 404 for it.
    """
    trusted = parse_logs(logs)
    configure_json_logging("notary.witness")
    config = WitnessConfig(
        name=name,
        private_key=load_key(key_file, passphrase_env),
        state_path=state,
        logs=trusted,
        max_body_bytes=max_body_bytes,
    )
    try:
        serve(config, host, port)
    except NotaryError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


@click.command(context_settings=_CONTEXT)
@_state_option
@click.option("--origin", required=True, help="The log's origin line.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A trusted checkpoint of the log to start from (body or signed note); size 0 without one.",
)
def init_command(state: Path, origin: str, checkpoint_file: Path | None) -> None:
    """Register a log with this witness (the operator's step; refused if it is registered already)."""
    configure_json_logging("notary.witness")
    try:
        checkpoint, note = None, None
        if checkpoint_file is not None:
            data = checkpoint_file.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise CommandError(f"{checkpoint_file.name} is not UTF-8 text") from None
            if "\n\n" in text:
                note = data
                text = parse_note(data).text
            checkpoint = parse_checkpoint(text)
        registered = init_witness(state, origin, checkpoint, note)
    except NotaryError as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"witness state {state.name}: origin {registered.origin} registered at size {registered.size}")


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch: ``init ...`` registers a log; anything else (optionally after ``serve``) serves."""
    args = list(sys.argv[1:] if argv is None else argv)
    prog = "python -m notary.witness"
    if args[:1] == ["init"]:
        init_command.main(args[1:], prog_name=f"{prog} init")
    elif args[:1] == ["serve"]:
        serve_command.main(args[1:], prog_name=f"{prog} serve")
    else:
        serve_command.main(args, prog_name=prog)


if __name__ == "__main__":
    main()
