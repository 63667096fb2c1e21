"""What every command group of ``consortium`` shares: the context (directory, chain URL, passphrase), one-line
failures, ``--json`` output, and the argument checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from chain.errors import ChainError, MalformedError
from chain.ids import OrgId, Role, check_name

if TYPE_CHECKING:  # imported when used: web3, py-evm and eth-account cost a second of CPU at every start
    from chain.backend import ClientTls, RpcBackend
    from chain.tx import Signer
    from network.consortium import Consortium
    from network.description import ConsortiumDescription
    from network.identity import OrgPaths

F = TypeVar("F", bound=Callable[..., Any])
DENIED_EXIT = 3
#: The exit status of ``consortium verify`` for unusable input (``cli.verify``).
USAGE_EXIT = 2


@dataclass
class Context:
    directory: Path
    chain_url: str | None
    passphrase_file: Path | None
    chain_cert: Path | None = None
    chain_key: Path | None = None
    chain_ca: Path | None = None
    #: ``consortium --as ORG`` ($CONSORTIUM_AS): the member a command without an ``--as`` of its own reads an https
    #: chain as (its admin identity in DIR/orgs/ORG)
    reader: str | None = None
    _consortium: Consortium | None = None

    def consortium(self) -> Consortium:
        if self._consortium is None:
            from network.consortium import Consortium
            from network.errors import NetworkError

            tls = self.chain_tls()
            try:
                self._consortium = Consortium.open(self.directory, self.chain_url, tls)
            except (ChainError, NetworkError) as exc:
                if tls is not None and tls.cert is not None and "refused the TLS handshake" in str(exc):
                    _refused_joined_firm(self.directory, exc)
                if tls is None or tls.cert is not None or not refused_without_certificate(exc):
                    raise
                fail(
                    f"{exc}. Say which member reads it: consortium --as ORG ... (or $CONSORTIUM_AS), ORG's identity "
                    f"in {self.directory}/orgs/ORG; or give a member's certificate: consortium --chain-cert "
                    f"{self.directory}/orgs/ORG/users/Admin@ORG/msp/signcerts/cert.pem --chain-key "
                    f"{self.directory}/orgs/ORG/users/Admin@ORG/msp/keystore/key.pem ... (or $CONSORTIUM_CHAIN_CERT "
                    "and $CONSORTIUM_CHAIN_KEY)"
                )
        return self._consortium

    def chain_tls(self, url: str | None = None, passphrase: bytes | None = None) -> ClientTls | None:
        """For an https chain URL (``url``, else ``--chain-url``, else consortium.json's; a node that serves its
        JSON-RPC to members only): the member certificate of ``--chain-cert`` and ``--chain-key``, if given, and
        the CAs of ``--chain-ca`` or else the member CAs of ``consortium.json``; None for an http URL."""
        from network.description import load_description
        from network.nodeaccess import client_tls

        if (self.chain_cert is None) != (self.chain_key is None):
            fail("--chain-cert and --chain-key go together")
        description = load_description(self.directory)
        url = url or self.chain_url or description.chain_url
        if not url.startswith("https://"):
            if self.chain_cert is not None or self.chain_ca is not None:
                fail(f"--chain-cert, --chain-key and --chain-ca are for an https chain URL, not {url}")
            return None
        cert, key = self.chain_cert, self.chain_key
        if cert is None:
            cert, key = _admin_of_as_org(self.directory, self.reader)
        password = None if key is None else passphrase or self.passphrase()
        return client_tls(description, cert, key, self.chain_ca, password)

    def passphrase(self) -> bytes:
        from network.identity import load_passphrase

        return load_passphrase(file=self.passphrase_file)

    def signer(self, org: str) -> Signer:
        """The account of ``org`` that signs this command's transaction (its key must be in DIR/orgs)."""
        return self.consortium().signer(org, self.passphrase())


def _admin_of_as_org(directory: Path, reader: str | None) -> tuple[Path | None, Path | None]:
    """The admin identity (certificate, key) a command presents to a node serving members only, if the directory
    holds it: the org the command signs as (its own ``--as``: the org that sends the transaction is a member), else
    the reader of ``consortium --as``, else the one org whose admin identity the directory holds (a firm's own
    directory). (None, None) otherwise (the demo's directory holds every member's: the refusal says which options
    to pass)."""
    from network.identity import OrgPaths

    ctx = click.get_current_context(silent=True)
    org = None if ctx is None else ctx.params.get("as_org")
    if not isinstance(org, str):
        org = reader
    if org is None:
        held = [o for o in _orgs_held(directory) if _admin_held(OrgPaths.of(directory, o))]
        if len(held) != 1:
            return None, None
        org = held[0]
    paths = OrgPaths.of(directory, OrgId(org))
    if not _admin_held(paths):
        if org == reader:  # named, so its absence is said rather than turned into a refusal by the node
            fail(f"--as {reader}: {directory}/orgs/{reader} holds no admin identity of {reader}")
        return None, None
    return paths.sign_cert, paths.identity_key


def _refused_joined_firm(directory: Path, exc: Exception) -> None:
    """A node refused the handshake of a firm that joined from ``directory`` (its admission request is there): say
    how its keys reach the chain while the nodes know no CA of its; return for any other directory."""
    from network.admission import FILENAME, load_request
    from network.errors import NetworkError

    path = directory / FILENAME
    if not path.is_file():
        return
    try:
        org = load_request(path).org
    except (NetworkError, MalformedError, OSError, ValueError):
        return
    fail(
        f"{exc}. {directory} is the directory {org} joined from: the nodes refuse its certificates while no CA of "
        f"{org} is valid on chain (its keys not published yet, or {org} removed). Admitted and not published yet: sign "
        f"its keys here (consortium --dir {directory} member keys publish --sign-only keys.json --as {org}) and have "
        "a member send them through its node (consortium member keys relay keys.json --as MEMBER)"
    )


def _orgs_held(directory: Path) -> list[OrgId]:
    orgs = directory / "orgs"
    return sorted(OrgId(p.name) for p in orgs.iterdir() if p.is_dir()) if orgs.is_dir() else []


def _admin_held(paths: OrgPaths) -> bool:
    return paths.sign_cert.is_file() and paths.identity_key.is_file()


def refused_without_certificate(exc: Exception) -> bool:
    """Whether the node refused a caller without a certificate (its 401, ``no_certificate``)."""
    return "no_certificate" in str(exc)


def root_chain_tls(directory: Path, url: str, passphrase: bytes) -> ClientTls | None:
    """For a serve command of ``consortium`` reading the chain at ``url``: the client certificate of the root
    options ``--chain-cert``, ``--chain-key`` and ``--chain-ca`` (as every other command takes them), its key
    opened with ``passphrase`` (the serve command's own); None for an http URL."""
    obj = click.get_current_context().find_object(Context)
    if obj is None:
        return None
    return dataclasses.replace(obj, directory=directory, _consortium=None).chain_tls(url, passphrase)


def chain_tls_options(f: Any) -> Any:
    """``--chain-cert``, ``--chain-key`` and ``--chain-ca``, the names the root options of ``consortium`` give the
    same thing (and their default): a member's client certificate for an https chain URL whose node serves its
    JSON-RPC to members only (``consortium up --rpc-tls``), and the CAs of the node's certificate."""
    f = click.option(
        "--chain-ca",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="CA bundle of the node's certificate (default: the root option's, else the member CAs of "
        "consortium.json).",
    )(f)
    f = click.option(
        "--chain-key",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="The private key of --chain-cert (an encrypted key is opened with the passphrase: the root "
        "--passphrase-file, else $CONSORTIUM_PASSPHRASE).",
    )(f)
    return click.option(
        "--chain-cert",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="A member's certificate for an https chain URL whose node admits members only, e.g. "
        "orgs/ORG/users/Admin@ORG/msp/signcerts/cert.pem (default: the root option's, or $CONSORTIUM_CHAIN_CERT).",
    )(f)


def chain_backend(
    description: ConsortiumDescription,
    chain_url: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    passphrase_file: Path | None = None,
    directory: Path | None = None,
) -> RpcBackend:
    """An ``RpcBackend`` of the chain at ``chain_url`` (default: consortium.json's), presenting ``cert`` and ``key``
    (default: the root options ``--chain-cert`` and ``--chain-key``, else the admin identity in ``directory``, the
    one beside consortium.json, of the member of ``consortium --as``, or of the one org it holds) to an https node;
    its chain id checked against consortium.json's. Exit status 2, saying why, when it cannot be used."""
    from chain.backend import RpcBackend
    from chain.errors import BackendError
    from network.errors import NetworkError
    from network.identity import load_passphrase
    from network.nodeaccess import client_tls

    ctx = click.get_current_context(silent=True)
    root = None if ctx is None else ctx.find_object(Context)
    if root is not None:
        cert, key, ca = cert or root.chain_cert, key or root.chain_key, ca or root.chain_ca
        passphrase_file = passphrase_file or root.passphrase_file
    if (cert is None) != (key is None):
        raise click.UsageError("--chain-cert and --chain-key go together")
    url = chain_url or description.chain_url
    if not url:
        _chain_unusable("consortium.json names no chain URL: give --chain-url")
    tls = None
    if url.startswith("https://"):
        if cert is None and directory is not None:
            cert, key = _admin_of_as_org(directory, None if root is None else root.reader)
        try:
            password = None if key is None else load_passphrase(file=passphrase_file)
        except NetworkError as exc:
            raise click.UsageError(f"cannot open --chain-key {key}: {exc}") from None
        tls = client_tls(description, cert, key, ca, password)
    elif cert is not None or ca is not None:
        raise click.UsageError(f"--chain-cert, --chain-key and --chain-ca are for an https chain URL, not {url}")
    try:
        backend = RpcBackend(url, tls=tls)
    except BackendError as exc:
        _chain_unusable(f"cannot read the chain at {url}: {exc}")
    if backend.chain_id != description.chain_id:
        _chain_unusable(
            f"the chain at {url} has chain id {backend.chain_id}, consortium.json says {description.chain_id}"
        )
    return backend


def _chain_unusable(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(USAGE_EXIT)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def address_param(text: str, what: str) -> bytes:
    """The 20 bytes of the account address ``text`` given as ``what`` (an option, a file); a usage error (exit 2)
    naming it when ``text`` is not ``0x`` and 40 hex digits."""
    try:
        raw = bytes.fromhex(text[2:]) if text.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise click.BadParameter(f"{text!r} is not a 0x-prefixed 20-byte address", param_hint=what)
    return raw


def _plain(value: Any) -> Any:
    """JSON-ready form of our dataclasses: bytes as 0x-hex, enums by name, roles as name lists."""
    if isinstance(value, Role):
        return [n.lower() for n in value.names()]
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def emit(as_json: bool, data: Any, lines: Callable[[], list[str]]) -> None:
    if as_json:
        click.echo(json.dumps(_plain(data), indent=2, ensure_ascii=False))
    else:
        for line in lines():
            click.echo(line)


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


def parse_time(text: str) -> int:
    """A unix time from ISO 8601 (``2026-12-01``, ``2026-12-01T10:00Z``) or plain seconds."""
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-12-01T10:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_digest(text: str, what: str) -> bytes:
    raw = text[2:] if text.startswith("0x") else text
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        raise click.BadParameter(f"{what} must be 64 hex digits") from None
    if len(value) != 32:
        raise click.BadParameter(f"{what} must be 32 bytes (64 hex digits)")
    return value


def file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def name_arg(what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        try:
            return check_name(value, what)
        except MalformedError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


def overlap_options(refused: str = "") -> Callable[[F], F]:
    """``--from-block`` and ``--overlap-blocks`` of a key's rotation (``network.keyrotation``), as the
    ``rotate-key`` commands of the gateway key and of the log's key take them; ``refused`` ends the help of
    ``--overlap-blocks`` with what the command refuses besides (a sentence, or nothing)."""
    from network.keyrotation import DEFAULT_OVERLAP_BLOCKS  # imported by the commands that rotate, when loaded

    def add(f: F) -> F:
        f = click.option(
            "--overlap-blocks",
            type=click.IntRange(1),
            default=DEFAULT_OVERLAP_BLOCKS,
            show_default=True,
            help="Blocks during which both keys are valid; the old key is retired that many blocks after the new "
            "one becomes valid." + (f" {refused}" if refused else ""),
        )(f)
        return click.option(
            "--from-block",
            type=click.IntRange(0),
            default=None,
            help="The new key is valid from this block (default: now).",
        )(f)

    return add


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
as_option = click.option(
    "--as",
    "as_org",
    required=True,
    callback=name_arg("org id"),
    help="Member org that signs the transaction (its key must be in DIR/orgs).",
)
pass_ctx = click.make_pass_decorator(Context)


def command_passphrase(passphrase_file: Path | None) -> bytes:
    """The passphrase of a command that takes ``--passphrase-file`` itself: its own file, else the one given to
    ``consortium`` (``consortium --passphrase-file F witness serve ...``), else $CONSORTIUM_PASSPHRASE."""
    from network.identity import load_passphrase

    if passphrase_file is None:
        given = click.get_current_context().find_root().params.get("passphrase_file")
        passphrase_file = given if isinstance(given, Path) else None
    return load_passphrase(file=passphrase_file)
