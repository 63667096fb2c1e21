"""The shipper: the gateway's outbox goes to the notary in order, in signed batches; nothing lost, nothing twice.

One background thread loops: read up to ``batch_max`` unshipped events (oldest first), send them as one batch
(``POST /v1/batches``, the body built by ``notary.sequencer.encode_batch`` and signed with the gateway's key,
Ed25519 or SM2 by the log's suite, by ``sign_batch_body``), and only after the notary's 200 mark them shipped in
the outbox. The notary's answer is what makes an event shipped, never the sending of it.

**Asleep at rest, batches under load.** With nothing pending the thread sleeps until the outbox commits an event
(``Outbox.wait_pending``; at most ``rest_s`` at a time, and :meth:`Shipper.stop` wakes it), so an idle gateway
costs nothing here. An event arriving after a quiet spell goes at once; after a batch smaller than ``batch_max``
the next one waits until ``gather_s`` after it (or until a full batch is pending), so under load the events
gather into batches: at most one partial batch per ``gather_s``, as many full ones as the notary takes.

**At least once, and the notary makes it exactly once.** A crash (or a timeout, or a lost answer) after the
notary committed a batch and before ``mark_shipped`` leaves those events pending; they are sent again, and the
notary answers an event id it already holds, with the same content, with its original index and receipt — so a
resend never adds a leaf. Batches are always cut from the oldest unshipped seq, so the notary sees this gateway's
sequence numbers in order and no gap is ever created by the shipper.

**Failures never drop events.** An unreachable notary, a timeout or a 5xx: back off (``backoff_initial_s``
doubling to ``backoff_max_s``), then try the same events again; the outbox keeps accepting calls meanwhile
(until its own bound). A refusal (4xx: unknown gateway key, bad signature, an event the notary rejects) is
logged as an error with the notary's answer and raises the ``refused`` flag (the gateway's ``notary-refused``
alarm), and is retried with the same backoff: it needs an operator (a key registered, a clock fixed), and
skipping the batch would leave a hole in the gateway's sequence. A 413 (batch too large) also halves the batch
size for the next tries, which a refusal of size alone can then get past.

**A rotated key, without a restart.** With ``next_key`` (``network.gatewaykeys.following_gateway_key``: the key
file read again when it changes, given once the chain says its key is valid), each batch is signed with the key
it gives, once it gives one, and with the last key it gave (the key of the start until then) while it gives none.
A batch signed just before the switch is accepted by the notary during the rotation's overlap. The notary follows
the chain on its own: a batch signed with the new key that it refuses (401) because its view has not reached the
block the key is valid from yet is sent again at once signed with the previous key, still valid then, until the
notary has taken one batch under the new key (``notary.keyswitch.KeySwitch``, as the signed reads do).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypedDict

import httpx

from chain.tlsclient import tls_client
from notary.keyswitch import KeySwitch
from notary.log.errors import NotaryError
from notary.logsuite import PrivateKey
from notary.sequencer import batch_headers, encode_entries_batch
from notary.submit.outbox import Outbox

log = logging.getLogger("notary.submit.shipper")

_ANSWER_CHARS = 2000  # how much of a refusal's body goes into the log and the status


class _RefusedError(NotaryError):
    """The notary answered 4xx."""

    def __init__(self, status: int, answer: str) -> None:
        super().__init__(f"notary refused the batch: {status} {answer}")
        self.status = status


class _UnavailableError(NotaryError):
    """The notary could not be reached or answered 5xx (or something else than a batch answer)."""


class ShipperStatus(TypedDict):
    """What :meth:`Shipper.status` reports (the gateway's and the explorer's health relay it)."""

    shipped_total: int
    batches: int
    consecutive_failures: int
    last_error: str | None
    last_success_ms: int | None
    refused: bool
    key: str  # hex of the public key it signs with


class Shipper:
    """Ships ``outbox`` to the notary at ``notary_url`` as gateway ``gateway_id``, signing with ``key``, or with the
    key ``next_key`` gives once it gives one (a rotated key valid on chain; None: not yet); to an https notary with
    ``tls`` (the TLS client context: the CAs trusted, the client certificate presented), if given."""

    def __init__(
        self,
        outbox: Outbox,
        notary_url: str,
        gateway_id: str,
        key: PrivateKey,
        *,
        batch_max: int = 1000,
        gather_s: float = 0.05,
        rest_s: float = 5.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        timeout_s: float = 10.0,
        tls: ssl.SSLContext | None = None,
        next_key: Callable[[], PrivateKey | None] | None = None,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self.outbox = outbox
        self.url = notary_url.rstrip("/") + "/v1/batches"
        self.gateway_id = gateway_id
        self._keys = KeySwitch(key, next_key, signer=f"gateway {gateway_id}", signs="batches")
        self.batch_max = batch_max
        self.gather_s = gather_s
        self.rest_s = rest_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self._tls = tls
        self._limit = batch_max
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._shipped = threading.Condition(self._lock)  # notified after every mark_shipped
        self._shipped_total = 0
        self._batches = 0
        self._failures = 0
        self._last_error: str | None = None
        self._last_success_ms: int | None = None
        self._refused = False

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the shipping thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="shipper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the batch in flight (whose answer, if any, is still recorded)."""
        self._stop.set()
        self.outbox.wake()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def drain(self, timeout: float) -> bool:
        """Wait until everything committed to the outbox at the time of the call is shipped; False on timeout."""
        target = self.outbox.last_seq
        deadline = time.monotonic() + timeout
        with self._shipped:
            while self.outbox.shipped_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._shipped.wait(min(remaining, 0.05))
        return True

    def status(self) -> ShipperStatus:
        with self._lock:
            return {
                "shipped_total": self._shipped_total,
                "batches": self._batches,
                "consecutive_failures": self._failures,
                "last_error": self._last_error,
                "last_success_ms": self._last_success_ms,
                "refused": self._refused,
                "key": self._keys.public.hex(),
            }

    @property
    def public_key(self) -> bytes:
        """The public key of the key the shipper signs with now (the key of the start until a switch)."""
        return self._keys.public

    # ------------------------------------------------------------------------------------------ loop

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        verify: ssl.SSLContext | bool = self._tls if self._tls is not None else True
        sent_at = -self.gather_s  # when the last batch smaller than the limit was sent (monotonic)
        with tls_client(verify, timeout=self.timeout_s) as client:  # a certificate re-issued: new connections
            while not self._stop.is_set():
                try:
                    began = time.monotonic()
                    shipped = self._ship_once(client)
                except _RefusedError as exc:
                    self._failed(str(exc), refused=True)
                    if exc.status == 413 and self._limit > 1:
                        self._limit = max(1, self._limit // 2)
                        log.warning("batch too large for the notary: sending at most %d events", self._limit)
                except _UnavailableError as exc:  # unreachable, timeout, 5xx: retry later
                    self._failed(str(exc), refused=False)
                except Exception as exc:  # the outbox failing (closed, disk): retry later too
                    self._failed(f"{type(exc).__name__}: {exc}", refused=False)
                else:
                    backoff = self.backoff_initial_s
                    if shipped < self._limit:  # caught up: wait for more
                        sent_at = began if shipped else sent_at
                        self._await_events(sent_at)
                    continue
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    def _await_events(self, sent_at: float) -> None:
        """Sleep until an event is pending (at most ``rest_s``), then, while fewer than a batch are, until
        ``gather_s`` after ``sent_at``, the sending of the last partial batch; either ends early on :meth:`stop`."""
        if not self.outbox.wait_pending(self.rest_s, woken=self._stop.is_set):
            return
        gather = sent_at + self.gather_s - time.monotonic()
        if gather > 0:
            self.outbox.wait_pending(gather, at_least=self._limit, woken=self._stop.is_set)

    def _ship_once(self, client: httpx.Client) -> int:
        """Send the oldest unshipped events as one batch; how many the notary accepted."""
        rows = self.outbox.pending(self._limit)
        if not rows:
            return 0
        body = encode_entries_batch(self.gateway_id, [data for _, data in rows])  # the entries as stored
        key, previous = self._keys.signing()
        response = self._post(client, body, key)
        if response.status_code == 401 and previous is not None:
            # switched to a new key the notary's view of the chain does not hold valid yet: the previous key is
            # still valid during the overlap, so this batch goes signed with it
            log.info("the notary does not take the new key yet; batch seq %d-%d signed with the previous key",
                     rows[0][0], rows[-1][0])  # fmt: skip
            response = self._post(client, body, previous)
        elif response.status_code == 200 and previous is not None:
            self._keys.taken(key)  # the notary takes the new key: no going back
        if 400 <= response.status_code < 500:
            answer = response.text[:_ANSWER_CHARS]
            log.error(
                "notary refused a batch of %d events (seq %d-%d): %d %s",
                len(rows),
                rows[0][0],
                rows[-1][0],
                response.status_code,
                answer,
            )
            raise _RefusedError(response.status_code, answer)
        if response.status_code != 200:
            raise _UnavailableError(f"notary answered {response.status_code}: {response.text[:_ANSWER_CHARS]}")
        result = self._answer(response, len(rows))
        with self._shipped:  # marked shipped and the status updated at once: drain() returns after both
            self.outbox.mark_shipped(rows[-1][0])
            was_refused = self._refused
            self._shipped_total += len(rows)
            self._batches += 1
            self._failures = 0
            self._last_error = None
            self._last_success_ms = int(time.time() * 1000)
            self._refused = False
            self._shipped.notify_all()
        if result.get("gaps"):
            log.warning("the notary reports gaps in this gateway's sequence: %s", result["gaps"])
        if was_refused:
            log.warning("the notary accepts this gateway's batches again (up to seq %d)", rows[-1][0])
        return len(rows)

    def _post(self, client: httpx.Client, body: bytes, key: PrivateKey) -> httpx.Response:
        headers = {"Content-Type": "application/json", **batch_headers(self.gateway_id, body, key)}
        try:
            return client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _UnavailableError(f"notary unreachable: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _answer(response: httpx.Response, count: int) -> Mapping[str, object]:
        """The batch answer, checked to hold one receipt per event sent (anything else is not an answer)."""
        try:
            result = response.json()
        except ValueError as exc:
            raise _UnavailableError(f"notary answered 200 without JSON: {exc}") from exc
        if not isinstance(result, dict) or len(result.get("receipts") or []) != count:
            raise _UnavailableError(f"notary answered 200 without a receipt per event: {response.text[:200]}")
        return result

    def _failed(self, error: str, *, refused: bool) -> None:
        with self._lock:
            self._failures += 1
            self._last_error = error
            if refused:
                self._refused = True
            failures = self._failures
        if not refused:
            level = logging.WARNING if failures in (1, 10) or failures % 100 == 0 else logging.DEBUG
            log.log(level, "shipping failed (%d in a row), retrying: %s", failures, error)
