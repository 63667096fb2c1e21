"""Checkpoints: sign the tree head, have the witnesses cosign it, publish it when the policy is met.

Each round (every ``interval`` seconds, when the tree grew):
1. sign a C2SP checkpoint of the current size with the log key and store it (``checkpoints``) before it leaves
   the notary, so every checkpoint this log ever signed is on record; the tree only grows, so any two of them
   are consistent;
2. send it with C2SP tlog-witness ``add-checkpoint`` to every witness, in parallel, with a consistency proof from
   the size that witness last cosigned (learned from its 200 or 409 answers);
3. keep the cosignatures that verify under each witness's key over exactly this checkpoint;
4. publish (store the note with the cosignature lines attached) only when the witness policy is met. Otherwise
   the checkpoint stays unpublished; events are still sequenced and the next round tries a newer size.

A witness answering 422 (inconsistent) means a split view, ours or its state: an alarm naming the size.

The witnesses and the policy are fixed, or followed: a :data:`WitnessFollower` is asked before each round, so a
witness whose key the chain starts listing is asked and counted from the next round, and one whose key the
chain no longer lists is neither (``network.logsetup.ChainWitnesses``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from notary.log.checkpoint import Checkpoint, format_checkpoint
from notary.log.errors import MalformedError
from notary.log.note import NoteSignature, Signer, add_signatures, sign_note
from notary.log.witnessing import format_add_checkpoint, parse_cosignature_lines, parse_size_body
from notary.logsuite import WitnessVerifier
from notary.reader import LogReader
from notary.storage.base import CheckpointRow, NotaryStorage, NotLeaderError

log = logging.getLogger("notary.checkpointer")


@dataclass(frozen=True, slots=True)
class Witness:
    org: str
    url: str  # base URL; the request goes to <url>/add-checkpoint
    verifier: WitnessVerifier  # of the log's suite: Ed25519 (intl) or SM2 (sm) cosignatures
    others: tuple[WitnessVerifier, ...] = ()  # further keys valid now (both keys of a rotation's overlap)

    @property
    def verifiers(self) -> tuple[WitnessVerifier, ...]:
        return (self.verifier, *self.others)


@dataclass(frozen=True, slots=True)
class WitnessPolicy:
    """At least ``threshold`` of ``witnesses`` (org ids) cosign, and a regulator among them if required."""

    threshold: int
    witnesses: tuple[str, ...]
    require_regulator: bool
    regulators: frozenset[str]

    def satisfied(self, cosigners: set[str]) -> bool:
        counted = cosigners & set(self.witnesses)
        if len(counted) < self.threshold:
            return False
        return not self.require_regulator or bool(counted & self.regulators)

    def describe(self) -> str:
        regulator = " including a regulator" if self.require_regulator else ""
        return f"{self.threshold} of {len(self.witnesses)} witnesses{regulator}"


#: The witnesses to ask and the policy to meet, asked before each round (a follower of the chain's keys).
WitnessFollower = Callable[[], tuple[Sequence[Witness], WitnessPolicy]]


@dataclass(frozen=True, slots=True)
class WitnessAnswer:
    org: str
    status: int  # HTTP status, or 0 when unreachable
    signature: NoteSignature | None = None
    detail: str = ""


class Checkpointer:
    def __init__(
        self,
        store: NotaryStorage,
        reader: LogReader,
        signer: Signer,
        origin: str,
        witnesses: Sequence[Witness],
        policy: WitnessPolicy,
        current_size: Callable[[], int],
        clock: Callable[[], float] = time.time,
        timeout: float = 5.0,
        follow: WitnessFollower | None = None,
    ) -> None:
        self.store = store
        self.reader = reader
        self.origin = origin
        self.witnesses = tuple(witnesses)
        self.policy = policy
        self._signer = signer
        self._current_size = current_size
        self._clock = clock
        self._client = httpx.Client(timeout=timeout)
        self._follow = follow
        # a followed set may grow: a few more workers than the witnesses at start (more only queue)
        workers = max(1, len(self.witnesses)) + (4 if follow is not None else 0)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="witness")
        self._known_size: dict[str, int] = {}
        self.last_answers: dict[str, WitnessAnswer] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    # ------------------------------------------------------------------------------------------ signing

    def sign(self) -> CheckpointRow | None:
        """Sign and record a checkpoint of the current size, if the tree grew since the last one."""
        size = self._current_size()
        latest = self.store.latest_checkpoint(published=False)
        if latest is not None and latest.size >= size:
            return None
        root = self.reader.root_at(size)
        text = format_checkpoint(Checkpoint(self.origin, size, root))
        note = sign_note(text, [self._signer])
        time_ms = max(int(self._clock() * 1000), latest.time_ms if latest else 0)
        return self.store.add_checkpoint(size, root, time_ms, note)

    # ------------------------------------------------------------------------------------------ witnessing

    def round(self) -> CheckpointRow | None:
        """One round: sign if the tree grew, then collect cosignatures for the newest unpublished checkpoint.
        Returns the checkpoint published in this round, if any."""
        with self._lock:
            if self._follow is not None:
                witnesses, self.policy = self._follow()
                self.witnesses = tuple(witnesses)
                asked = {w.org for w in self.witnesses}
                for org in set(self.last_answers) - asked:  # /healthz shows the witnesses of the set now
                    del self.last_answers[org]
            self.sign()
            newest = self.store.latest_checkpoint(published=False)
            published = self.store.latest_checkpoint(published=True)
            if newest is None or (published is not None and published.size >= newest.size):
                return None
            # a leader-only action that writes nothing to the store: fenced before the requests leave, so a
            # replaced leader that has not noticed yet asks no witness (its cosignatures could not be published)
            self.store.check_leader(f"asking the witnesses to cosign checkpoint {newest.size}")
            return self._witness(newest)

    def _witness(self, checkpoint: CheckpointRow) -> CheckpointRow | None:
        text = format_checkpoint(Checkpoint(self.origin, checkpoint.size, checkpoint.root))
        answers = list(self._pool.map(lambda w: self._ask(w, checkpoint, text), self.witnesses))
        for answer in answers:
            self.last_answers[answer.org] = answer
        signatures = {a.org: a.signature for a in answers if a.signature is not None}
        if not self.policy.satisfied(set(signatures)):
            log.warning(
                "checkpoint %d not published: %d cosignature(s) (%s), policy needs %s",
                checkpoint.size,
                len(signatures),
                ", ".join(sorted(signatures)) or "none",
                self.policy.describe(),
            )
            return None
        cosigned = add_signatures(checkpoint.note, [signatures[org] for org in sorted(signatures)])
        now = max(int(self._clock() * 1000), checkpoint.time_ms)
        self.store.publish_checkpoint(checkpoint.size, cosigned, now, ",".join(sorted(signatures)))
        log.info("published checkpoint %d cosigned by %s", checkpoint.size, ", ".join(sorted(signatures)))
        return self.store.checkpoint(checkpoint.size)

    def _ask(self, witness: Witness, checkpoint: CheckpointRow, text: str) -> WitnessAnswer:
        """Send the checkpoint to one witness; on 409 retry once from the size it reports."""
        for _ in range(2):
            old = min(self._known_size.get(witness.org, 0), checkpoint.size)
            body = format_add_checkpoint(old, self.reader.consistency(old, checkpoint.size), checkpoint.note)
            try:
                response = self._client.post(witness.url.rstrip("/") + "/add-checkpoint", content=body)
            except httpx.HTTPError as exc:
                return WitnessAnswer(witness.org, 0, detail=f"unreachable: {exc.__class__.__name__}")
            if response.status_code == 409:
                try:
                    self._known_size[witness.org] = parse_size_body(response.content)
                except MalformedError:
                    return WitnessAnswer(witness.org, 409, detail="409 without a valid size body")
                if self._known_size[witness.org] > checkpoint.size:
                    return WitnessAnswer(witness.org, 409, detail="witness has seen a larger tree than this log")
                continue
            if response.status_code != 200:
                if response.status_code == 422:
                    self._alarm(witness, checkpoint, response.text)
                return WitnessAnswer(witness.org, response.status_code, detail=response.text[:200])
            return self._cosignature(witness, checkpoint, text, response.content)
        return WitnessAnswer(witness.org, 409, detail="size kept changing")

    def _cosignature(self, witness: Witness, checkpoint: CheckpointRow, text: str, body: bytes) -> WitnessAnswer:
        try:
            lines = parse_cosignature_lines(body)
        except MalformedError as exc:
            return WitnessAnswer(witness.org, 200, detail=f"unreadable cosignature: {exc}")
        for sig in lines:
            for verifier in witness.verifiers:
                if sig.name == verifier.name and sig.key_id == verifier.key_id:
                    if verifier.verify(text, sig):
                        self._known_size[witness.org] = checkpoint.size
                        return WitnessAnswer(witness.org, 200, signature=sig)
                    return WitnessAnswer(witness.org, 200, detail="cosignature does not verify")
        return WitnessAnswer(witness.org, 200, detail="no cosignature by the witness's key")

    def _alarm(self, witness: Witness, checkpoint: CheckpointRow, detail: str) -> None:
        message = (
            f"witness {witness.org} refused checkpoint {checkpoint.size} as inconsistent with what it cosigned "
            f"(split view or corrupted witness state): {detail[:200]}"
        )
        log.error("ALARM %s", message)
        # fenced: a replaced leader's round is void; the leader's next round asks this witness again. One alarm
        # per witness: its refusals at every round after are counted on it (docs/notary.md, "Alarms")
        self.store.add_alarm(
            int(self._clock() * 1000),
            "split-view",
            checkpoint.size,
            message,
            subject=f"witness {witness.org}",
            leader_only=True,
        )

    def run(self, stop: threading.Event, interval: float = 0.5, leading: Callable[[], bool] = lambda: True) -> None:
        """A round every ``interval`` seconds while ``leading()`` (``notary.storage.leader``: one replica of a
        shared store checkpoints; the others skip their rounds)."""
        while not stop.wait(interval):
            if not leading():
                self.last_answers.clear()  # a follower asks no witness: /healthz and /metrics show none
                continue
            try:
                self.round()
            except NotLeaderError as exc:  # lost the lead during the round: its write was refused
                log.info("checkpoint round stopped: %s", exc)
            except Exception:  # a round must never kill the loop; the next one retries
                log.exception("checkpoint round failed")
