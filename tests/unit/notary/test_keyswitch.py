"""The signing key that moves to a rotated key and falls back to the key before it (``notary.keyswitch``), as the
shipper's batches and the signed reads use it."""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.keyswitch import KeySwitch
from notary.logsuite import PrivateKey, public_bytes
from suite.sm2 import SM2PrivateKey


def test_without_a_next_key_the_key_of_the_start_signs_with_nothing_to_fall_back_to() -> None:
    key = Ed25519PrivateKey.generate()
    keys = KeySwitch(key, signer="gateway org/gw-1", signs="batches")
    assert keys.signing() == (key, None)
    assert keys.key is key and keys.public == public_bytes(key)


def test_a_new_key_signs_with_the_previous_one_to_fall_back_to_until_the_notary_takes_it() -> None:
    old, new = SM2PrivateKey.from_bytes(b"\x01" * 32), SM2PrivateKey.from_bytes(b"\x02" * 32)
    offered: list[PrivateKey | None] = [None]
    keys = KeySwitch(old, lambda: offered[0], signer="org/explorer", signs="reads")
    assert keys.signing() == (old, None)
    offered[0] = new
    assert keys.signing() == (new, old)
    assert keys.signing() == (new, old)  # refused still: the fall-back stays
    assert keys.public == public_bytes(new)
    keys.taken(old)  # a request signed with the previous key accepted: says nothing of the new one
    assert keys.signing() == (new, old)
    keys.taken(new)
    assert keys.signing() == (new, None)
    offered[0] = None  # the source no longer gives a key: the last one it gave keeps signing
    assert keys.signing() == (new, None)


def test_the_same_key_given_again_is_no_switch() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)
    again = Ed25519PrivateKey.from_private_bytes(b"\x03" * 32)  # another object of the same key
    keys = KeySwitch(key, lambda: again, signer="gateway org/gw-1", signs="batches")
    assert keys.signing() == (key, None)


def test_an_unreadable_key_file_keeps_the_key_in_use() -> None:
    key = Ed25519PrivateKey.generate()

    def unreadable() -> PrivateKey | None:
        raise OSError("permission denied")

    keys = KeySwitch(key, unreadable, signer="gateway org/gw-1", signs="batches")
    assert keys.signing() == (key, None)


def test_threads_signing_at_once_ask_the_next_key_one_at_a_time_and_switch_once() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    inside, most = [0], [0]
    count = threading.Lock()

    def next_key() -> PrivateKey | None:
        with count:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return new
        finally:
            with count:
                inside[0] -= 1

    keys = KeySwitch(old, next_key, signer="org/explorer", signs="reads")
    start = threading.Barrier(8)
    seen: list[tuple[PrivateKey, PrivateKey | None]] = []

    def sign() -> None:
        start.wait()
        for _ in range(200):
            pair = keys.signing()
            with count:
                seen.append(pair)

    threads = [threading.Thread(target=sign) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert set(seen) == {(new, old)}  # one switch: every signature under the new key, the old to fall back to
