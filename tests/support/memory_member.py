"""A member's client (``sdk.MemberClient``) whose calls are answered in memory, without a socket: for the unit tests
(tests/unit/, which open no sockets) of what the SDK does with a gateway's answers. Its certificate is a
self-signed ``client@beta`` of a day either side of a fixed instant (nothing checks its validity: no handshake is
made), written to the test's directory; httpx's own ``MockTransport`` answers in place of the network, so the
client's own logic (its calls, their errors) is the SDK's, unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sdk import MemberClient
from tests.support.clock import FIXED_NOW

#: What answers a request in place of the network: a response, or an ``httpx`` error raised as the network's.
Handler = Callable[[httpx.Request], httpx.Response]


@contextmanager
def memory_member(directory: Path, handle: Handler | None = None, **options: Any) -> Iterator[MemberClient]:
    """A ``MemberClient`` of ``client@beta`` (its certificate and key in ``directory``; ``options``: more of the
    constructor's, such as ``clock``), its calls answered by ``handle`` (:func:`answer_with`; or later, by the
    test); closed at the end."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client@beta")])
    now = FIXED_NOW
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    member = MemberClient(
        cert=directory / "cert.pem",
        key=directory / "key.pem",
        key_password=None,
        ca_bundle=directory / "cert.pem",
        **options,
    )
    if handle is not None:
        answer_with(member, handle)
    try:
        yield member
    finally:
        member.close()


def answer_with(member: MemberClient, handle: Handler) -> None:
    """Answer ``member``'s calls from now on with ``handle``, in memory (the network, not the gateway's logic)."""
    member._http = httpx.Client(transport=httpx.MockTransport(handle))
