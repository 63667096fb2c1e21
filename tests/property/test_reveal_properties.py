"""A revealed salt checks exactly one event: among events of one provider (over a few days, with the very same
request and response), the salt revealed for one of them matches that event's digests and no other's."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notary.event import validate_event
from notary.submit.digest import request_digest, response_digest
from notary.submit.reveal import Revealed, body_sha256, reveal_document
from notary.submit.vault import DAY_MS, SaltVault
from tests.support.notary_events import event

START = 1_795_000_000_000
KEY = Ed25519PrivateKey.generate()

event_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
times = st.integers(min_value=START, max_value=START + 3 * DAY_MS)
bodies = st.binary(max_size=64)
targets = st.from_regex(r"/v1/[a-z]{1,8}(\?[a-z]=[0-9]{1,3})?", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(st.tuples(event_ids, times), min_size=2, max_size=8, unique_by=lambda c: c[0]),
    which=st.integers(min_value=0),
    target=targets,
    body=bodies,
    answer=bodies,
)
def test_a_revealed_salt_verifies_exactly_its_own_event(
    calls: list[tuple[str, int]], which: int, target: str, body: bytes, answer: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        vault = SaltVault.for_gateway_key(Path(folder), "shuzhi-tech", KEY, clock=lambda: START / 1000)
        entries = []
        for event_id, time_ms in calls:  # every call the same request and response: only the salt differs
            salt = vault.salt(event_id, time_ms)
            ev = event(
                v=2,
                event_id=event_id,
                time_ms=time_ms,
                request_digest=request_digest(salt, "GET", target, body_sha256(body)),
                response_digest=response_digest(salt, 200, body_sha256(answer)),
            )
            entries.append(json.dumps(validate_event(ev), sort_keys=True, separators=(",", ":")).encode())
        chosen = which % len(calls)
        event_id, time_ms = calls[chosen]
        revealed = Revealed.from_json(reveal_document(entries[chosen], vault.reveal(event_id, time_ms)))
        assert revealed.request_matches(target, body_sha256(body))
        assert revealed.response_matches(body_sha256(answer))
        for i, entry in enumerate(entries):
            if i == chosen:
                continue
            # the same salt put in another event's reveal document checks neither of its digests
            other = Revealed.from_json(reveal_document(entry, revealed.salt))
            assert not other.request_matches(target, body_sha256(body))
            assert not other.response_matches(body_sha256(answer))
