"""A signing key that moves to a rotated key without a restart, and falls back to the key before it while the
notary does not take the new one yet: what the shipper's batches (``notary.submit.shipper``) and the signed
reads (``notary.readauth.SignedReads``) both sign with.

``next_key`` (``network.gatewaykeys.following_gateway_key``: the key file read again when it changes, given once
the chain says its key is valid; None until then) is asked before each signature. Once it gives a key other
than the one in use, that key signs from then on, and the key before it is kept as the fall-back. The notary
follows the chain on its own: a request under the new key that it refuses (401) because its view has not reached
the block the key is valid from is sent again at once under the previous key, still valid then. Once the notary
has taken one request under the new key (:meth:`KeySwitch.taken`), the previous key is forgotten: no going back.

Thread-safe: requests are signed from several threads, and ``next_key`` is asked by one at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from notary.logsuite import PrivateKey, public_bytes

log = logging.getLogger("notary.keyswitch")


class KeySwitch:
    """The key to sign with: ``key`` until ``next_key`` gives another, then that one, with the key before it to
    fall back to until the notary took the new one. ``signer`` names who signs, ``signs`` what, for the log."""

    def __init__(
        self,
        key: PrivateKey,
        next_key: Callable[[], PrivateKey | None] | None = None,
        *,
        signer: str,
        signs: str,
    ) -> None:
        self._key = key
        self._public = public_bytes(key)
        self._next_key = next_key
        self._previous: PrivateKey | None = None  # the key before a switch, until the notary took the new one
        self._signer = signer
        self._signs = signs
        self._lock = threading.Lock()

    @property
    def key(self) -> PrivateKey:
        """The key signing now (``key`` until a switch)."""
        with self._lock:
            return self._key

    @property
    def public(self) -> bytes:
        """The raw public key of :attr:`key`."""
        with self._lock:
            return self._public

    def signing(self) -> tuple[PrivateKey, PrivateKey | None]:
        """The key to sign the next request with (``next_key``'s when it gives one, else the one in use), and the
        key to sign it again with if the notary refuses it (None: no switch waiting for the notary)."""
        with self._lock:
            if self._next_key is not None:
                try:
                    offered = self._next_key()
                except Exception as exc:  # an unreadable key file: keep signing with the key in use
                    log.warning("cannot read the next key of %s, signing with the current one: %s: %s",
                                self._signer, type(exc).__name__, exc)  # fmt: skip
                    offered = None
                if offered is not None:
                    public = public_bytes(offered)
                    if public != self._public:
                        log.info("%s signs its %s with its new key %s from now on", self._signer, self._signs,
                                 public.hex())  # fmt: skip
                        self._previous = self._key
                        self._key, self._public = offered, public
            return self._key, self._previous

    def taken(self, key: PrivateKey) -> None:
        """The notary accepted a request signed with ``key``: if that is the key in use, the previous key is
        forgotten (a request signed before a later switch changes nothing)."""
        with self._lock:
            if self._key is key:
                self._previous = None
