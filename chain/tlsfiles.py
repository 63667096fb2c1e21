"""TLS contexts that follow their certificate and key files, clients' and servers' alike: a member's CA rotated
(``consortium identity rotate-ca``, ``network.carotation``) re-issues its services' certificates in place, with
the same keys, and a running process presents the re-issued one from its next handshake, with no restart
(``docs/trust.md``, "What a running process reads again").

A :class:`ReloadingContext` looks at its two files (``stat``: inode, mtime and size of each) at most once per
``interval`` seconds, when a connection is made: CPython makes every connection of a context through its
``_wrap_socket`` (a socket, accepted or connecting) or ``_wrap_bio`` (asyncio's, a memory BIO), which this class
wraps. When they changed, ``load_cert_chain`` loads them again into the same context; OpenSSL copies a context's
certificate and key into each connection it makes, so the next one presents the new certificate and those made
before keep theirs. A lock keeps connections from being made while the files are loaded, since OpenSSL makes a
connection and replaces a context's certificate outside Python's lock.

A change is taken whole or not at all: OpenSSL must load both files into a context of their own (the key opened
with the password and matching the certificate) before the context that serves is touched, because a
``load_cert_chain`` that fails half-way can leave a context with the new certificate and no key. A file that cannot
be read or parsed, another key's certificate or a wrong passphrase keeps the certificate loaded before, and is
logged as one warning for that change at the next look, a second later: a certificate and a key written one after
the other may be looked at between the two, and their next state is tried first. A change costs loading the key
twice, on the thread that makes the connection (an asyncio server's event loop included): about 0.1 s in all for a
key encrypted as this project encrypts keys (PBKDF2, 200,000 rounds by default).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

__all__ = ["CHECK_INTERVAL_S", "ReloadingContext", "generation"]

log = logging.getLogger(__name__)

#: How often, at most, a context looks at its files (seconds).
CHECK_INTERVAL_S: Final = 1.0

_Stamp = tuple[tuple[int, int, int], tuple[int, int, int]]
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(slots=True)
class _Files:
    """What a context follows, and what it made of the files' last states."""

    cert: str
    key: str
    password: bytes | None
    interval: float
    clock: Callable[[], float]
    stamp: _Stamp  # of the files loaded
    serial: int | None  # of the certificate loaded (None: Python could not parse what OpenSSL took)
    looked_at: float
    failed: _Stamp | None = None  # a state of the files that could not be loaded
    problem: str = ""  # why
    warned: bool = False  # whether that was logged
    generation: int = 0  # how many times the files were loaded again
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReloadingContext(ssl.SSLContext):
    """An :class:`ssl.SSLContext` (a client's or a server's, by its protocol) presenting the certificate its files
    hold now (module docstring): :meth:`present` loads them and follows them from then on."""

    _files: _Files | None = None

    def present(self, cert: Path | str, key: Path | str, password: bytes | None, *,
                interval: float = CHECK_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        """Load ``cert`` and ``key`` (``password`` opens an encrypted key; ``ssl.SSLError`` or ``OSError`` if they
        cannot be used) and follow their files from now on, looked at at most once per ``interval`` seconds of
        ``clock``."""
        cert, key = str(cert), str(key)
        stamp = _stamp(cert, key)
        self.load_cert_chain(cert, key, password=_callback(password))
        self._files = _Files(cert, key, password, interval, clock, stamp, _serial(cert), clock())

    def generation(self) -> int:
        """How many times the files were loaded again, after a look at them now (at most one per interval; 0 for
        a context that follows no files). A client that keeps its connections alive makes no new one while they
        last: when this changed it starts new ones, which present the certificate the files hold now
        (:mod:`chain.tlsclient`)."""
        files = self._files
        if files is None:
            return 0
        with files.lock:
            self._look(files)
            return files.generation

    # CPython's two makers of a connection (SSLContext.wrap_socket, SSLSocket.connect; SSLContext.wrap_bio): the
    # files are looked at first, and a connection is never made while they are loaded. Not in typeshed.
    def _wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection(super()._wrap_socket, *args, **kwargs)  # type: ignore[misc]

    def _wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection(super()._wrap_bio, *args, **kwargs)  # type: ignore[misc]

    def _connection(self, make: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``make(*args, **kwargs)``, CPython's maker of a connection, after a look at the files and under their
        lock (none for a context that follows no files)."""
        files = self._files
        if files is None:
            return make(*args, **kwargs)
        with files.lock:
            self._look(files)
            return make(*args, **kwargs)

    def _look(self, files: _Files) -> None:
        """Load the files again if the interval passed since the last look and they changed (under the lock)."""
        now = files.clock()
        if now - files.looked_at < files.interval:
            return
        files.looked_at = now
        stamp = _stamp(files.cert, files.key)
        if stamp == files.stamp:
            return
        if stamp == files.failed:
            if not files.warned:
                files.warned = True
                before = "" if files.serial is None else f", serial {files.serial:#x}"
                log.warning(
                    "TLS certificate %s changed but cannot be presented (%s): new connections still get the one "
                    "loaded before%s",
                    files.cert, files.problem, before,
                )  # fmt: skip
            return
        problem = _refusal(files.cert, files.key, files.password, self.protocol)
        if problem is None and _stamp(files.cert, files.key) != stamp:
            return  # written again meanwhile: looked at again at the next connection after the interval
        if problem is not None:
            files.failed, files.problem, files.warned = stamp, problem, False
            return
        try:
            self.load_cert_chain(files.cert, files.key, password=_callback(files.password))
        except (OSError, ssl.SSLError) as exc:  # replaced between the check and here: their next state is tried
            log.error("TLS certificate %s could not be loaded again (%s): tried again at the next look", files.cert,
                      exc)  # fmt: skip
            return
        files.stamp, files.failed, files.serial = stamp, None, _serial(files.cert)
        files.generation += 1
        serial = "" if files.serial is None else f" (serial {files.serial:#x})"
        log.info("TLS certificate %s loaded again%s: presented from the next connection on", files.cert, serial)


def generation(context: ssl.SSLContext | bool | None) -> int:
    """:meth:`ReloadingContext.generation` of ``context``; 0 for any other (it presents what it was given)."""
    return context.generation() if isinstance(context, ReloadingContext) else 0


def _callback(password: bytes | None) -> Callable[[], bytes]:
    # A callable, never None: with None OpenSSL would prompt on the terminal for an encrypted key.
    return lambda: password or b""


def _stamp(cert: str, key: str) -> _Stamp:
    return (_file_stamp(cert), _file_stamp(key))


def _file_stamp(path: str) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)  # missing or unreadable: a state of its own, which loading then explains
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _serial(cert: str) -> int | None:
    try:
        return x509.load_pem_x509_certificates(Path(cert).read_bytes())[0].serial_number
    except (OSError, ValueError, IndexError):
        return None


def _refusal(cert: str, key: str, password: bytes | None, protocol: int) -> str | None:
    """Why ``cert`` and ``key`` cannot be presented (OpenSSL's verdict in a context of their own, said as Python
    reads the files), or None."""
    trial = ssl.SSLContext(protocol)
    try:
        trial.load_cert_chain(cert, key, password=_callback(password))
    except (OSError, ssl.SSLError) as exc:
        return _why(cert, key, password) or f"OpenSSL refuses them: {getattr(exc, 'reason', None) or exc}"
    return None


def _why(cert: str, key: str, password: bytes | None) -> str | None:
    """What is wrong with ``cert`` and ``key``, as Python reads them, or None if it finds nothing."""
    try:
        certs = x509.load_pem_x509_certificates(Path(cert).read_bytes())
    except OSError as exc:
        return f"cannot read {cert}: {exc.strerror or exc}"
    except ValueError:
        return f"{cert} holds no readable PEM certificate"
    try:
        data = Path(key).read_bytes()
    except OSError as exc:
        return f"cannot read {key}: {exc.strerror or exc}"
    try:
        private = serialization.load_pem_private_key(data, password or None)
    except TypeError:  # encrypted without a password, or a password for a key that is not encrypted
        if not password:
            return f"{key} is encrypted and no passphrase was given"
        try:
            private = serialization.load_pem_private_key(data, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return f"{key} is not a PEM private key"
    except ValueError:
        return f"cannot open {key}: wrong passphrase, or not a PEM private key"
    except UnsupportedAlgorithm:
        return f"{key}: unsupported key type or key encryption"
    if private.public_key().public_bytes(*_SPKI) != certs[0].public_key().public_bytes(*_SPKI):
        return f"{cert} is not the certificate of the key in {key}"
    return None
