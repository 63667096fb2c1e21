"""The salt vault (``notary.submit.vault``): HKDF derivation per event, keys made once per day and kept across
reopening (and across processes racing to make one), encrypted at rest, shredding with tombstones, refusals."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from notary.event import validate_event
from notary.log.errors import MalformedError
from notary.submit.digest import GatewaySalt, derive_salt
from notary.submit.reveal import Revealed, body_sha256, reveal_document
from notary.submit.vault import (
    DAY_MS,
    EVENT_SALT_INFO,
    SHRED_GRACE_MS,
    EpochMissingError,
    EpochShreddedError,
    SaltVault,
    Tombstone,
    VaultError,
    _expand,
    _extract,
    day_end_ms,
    epoch_of,
    event_salt,
    vault_key,
)
from tests.support.notary_events import event

DAY = "2026-12-01"
NOON = int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp() * 1000)
LATER = NOON + 3 * DAY_MS  # 2026-12-04: the 1st is over


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def _vault(path: Path, clock: Clock, key: Ed25519PrivateKey | None = None, provider: str = "alpha") -> SaltVault:
    return SaltVault.for_gateway_key(path, provider, key or Ed25519PrivateKey.generate(), clock=clock)


def test_event_salt_is_hkdf_of_the_epoch_key_with_the_event_id_and_the_fast_path_agrees() -> None:
    key = bytes(range(32))
    salt = event_salt(key, "e-1")
    assert salt == _expand(_extract(key), "e-1") and len(salt) == 32
    assert event_salt(key, "e-2") != salt and event_salt(bytes(32), "e-1") != salt
    assert EVENT_SALT_INFO == b"consortium-ledger/event-salt/v1\n"


def test_epochs_are_utc_days() -> None:
    assert epoch_of(NOON) == DAY
    assert epoch_of(day_end_ms(DAY) - 1) == DAY and epoch_of(day_end_ms(DAY)) == "2026-12-02"
    for bad in ("2026-13-01", "2026-2-01", "yesterday", "2026-02-30"):
        with pytest.raises(MalformedError):
            day_end_ms(bad)


def test_a_key_is_made_on_first_use_and_kept_across_reopening(tmp_path: Path) -> None:
    clock, gateway_key = Clock(NOON), Ed25519PrivateKey.generate()
    vault = _vault(tmp_path, clock, gateway_key)
    assert vault.days() == []
    first = vault.salt("e-1", NOON)
    assert vault.days() == [DAY] and vault.salt("e-1", NOON + 1000) == first != vault.salt("e-2", NOON)
    assert vault.salt("e-1", NOON + DAY_MS) != first  # another day, another key
    reopened = _vault(tmp_path, clock, gateway_key)
    assert reopened.reveal("e-1", NOON) == first
    with pytest.raises(EpochMissingError):
        reopened.reveal("e-1", NOON - DAY_MS)  # reveal never makes a key
    assert reopened.days() == [DAY, "2026-12-02"]


def test_keys_are_encrypted_at_rest_under_the_gateway_key_and_bound_to_their_day(tmp_path: Path) -> None:
    clock, gateway_key = Clock(NOON), Ed25519PrivateKey.generate()
    vault = _vault(tmp_path, clock, gateway_key)
    vault.salt("e-1", NOON)
    vault.salt("e-1", NOON + DAY_MS)
    raw = (tmp_path / f"{DAY}.key").read_bytes()
    assert len(raw) == 8 + 12 + 32 + 16 and vault_key(gateway_key) not in raw
    with pytest.raises(VaultError, match="does not decrypt"):
        _vault(tmp_path, clock).reveal("e-1", NOON)  # another org's gateway key
    os.replace(tmp_path / f"{DAY}.key", tmp_path / "2026-12-02.key")  # a key file moved to another day
    with pytest.raises(VaultError, match="does not decrypt"):
        _vault(tmp_path, clock, gateway_key).reveal("e-1", NOON + DAY_MS)


def test_a_vault_belongs_to_one_provider(tmp_path: Path) -> None:
    _vault(tmp_path, Clock(NOON))
    assert SaltVault.provider_of(tmp_path) == "alpha" and SaltVault.provider_of(tmp_path / "none") is None
    with pytest.raises(VaultError, match="vault of 'alpha', not of 'beta'"):
        _vault(tmp_path, Clock(NOON), provider="beta")


def test_two_vaults_racing_for_one_day_keep_the_first_key(tmp_path: Path) -> None:
    clock, gateway_key = Clock(NOON), Ed25519PrivateKey.generate()
    one, two = _vault(tmp_path, clock, gateway_key), _vault(tmp_path, clock, gateway_key)
    assert one.salt("e", NOON) == two.salt("e", NOON)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{DAY}.key", "vault.json"]  # no temporary file left


def test_shred_destroys_the_key_leaves_a_tombstone_and_refuses_reveals(tmp_path: Path) -> None:
    clock, gateway_key = Clock(NOON), Ed25519PrivateKey.generate()
    vault = _vault(tmp_path, clock, gateway_key)
    vault.salt("e-1", NOON)
    kept = vault.salt("e-1", NOON + DAY_MS)
    clock.ms = LATER
    tombstone, destroyed = vault.shred(DAY, "compliance@alpha")
    assert destroyed and tombstone == Tombstone("alpha", DAY, LATER, "compliance@alpha")
    assert not (tmp_path / f"{DAY}.key").exists() and vault.days() == ["2026-12-02"]
    for opened in (vault, _vault(tmp_path, clock, gateway_key)):
        with pytest.raises(EpochShreddedError) as refused:
            opened.reveal("e-1", NOON)
        assert refused.value.tombstone == tombstone
        assert "shredded at 2026-12-04T12:00:00Z by compliance@alpha" in str(refused.value)
        with pytest.raises(EpochShreddedError):
            opened.salt("e-9", NOON)  # a clock gone back into a shredded day never makes its key again
        assert opened.reveal("e-1", NOON + DAY_MS) == kept  # other days untouched
    assert vault.tombstones() == [tombstone]
    again, destroyed = vault.shred(DAY, "someone else", now_ms=LATER + 1)
    assert again == tombstone and not destroyed  # the first tombstone stands
    empty, destroyed = vault.shred("2026-11-01", "compliance@alpha")
    assert not destroyed and empty.day == "2026-11-01"  # a day without a key gets a tombstone too
    with pytest.raises(EpochShreddedError):
        vault.salt("e", int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000))


def test_only_a_day_that_is_over_may_be_shredded(tmp_path: Path) -> None:
    clock = Clock(NOON)
    vault = _vault(tmp_path, clock)
    vault.salt("e-1", NOON)
    with pytest.raises(VaultError, match="not over"):
        vault.shred(DAY, "x")
    clock.ms = day_end_ms(DAY) + SHRED_GRACE_MS - 1
    with pytest.raises(VaultError, match="not over"):
        vault.shred(DAY, "x")
    with pytest.raises(MalformedError):
        vault.shred(DAY, "two\nlines", now_ms=LATER)
    clock.ms = day_end_ms(DAY) + SHRED_GRACE_MS
    assert vault.shred(DAY, "x")[1]


def test_a_shred_interrupted_after_its_tombstone_is_finished_at_the_next_opening(tmp_path: Path) -> None:
    clock, gateway_key = Clock(LATER), Ed25519PrivateKey.generate()
    vault = _vault(tmp_path, clock, gateway_key)
    vault.salt("e-1", NOON)
    tombstone = Tombstone("alpha", DAY, LATER, "x")
    (tmp_path / f"{DAY}.shredded").write_text(json.dumps(tombstone.to_json()))  # the crash came before the key went
    assert (tmp_path / f"{DAY}.key").exists()
    _vault(tmp_path, clock, gateway_key)
    assert not (tmp_path / f"{DAY}.key").exists()


def test_days_in_use_are_the_only_keys_kept_in_memory(tmp_path: Path) -> None:
    clock = Clock(NOON)
    vault = _vault(tmp_path, clock)
    vault.salt("e", NOON)
    assert list(vault._prks) == [DAY]
    clock.ms = day_end_ms(DAY) + 1000  # just after midnight: yesterday's key may still be needed
    vault.salt("e", clock.ms)
    assert sorted(vault._prks) == [DAY, "2026-12-02"]
    clock.ms = day_end_ms(DAY) + SHRED_GRACE_MS  # yesterday may be shredded now: gone at the next call
    vault.salt("e", clock.ms)
    assert list(vault._prks) == ["2026-12-02"]


def test_signed_shred_statements_verify_under_the_gateway_key_only() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    tombstone = Tombstone("alpha", DAY, LATER, "compliance@alpha")
    statement = tombstone.signed(key)
    assert Tombstone.from_signed(statement, public) == tombstone
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(MalformedError, match="not signed"):
        Tombstone.from_signed(statement, other)
    with pytest.raises(MalformedError, match="not signed"):
        Tombstone.from_signed({**statement, "day": "2026-12-02"}, public)
    with pytest.raises(MalformedError, match="exactly"):
        Tombstone.from_signed({**statement, "note": "x"}, public)


def test_a_reveal_document_checks_its_payload_and_its_version_1_salt_is_the_gateways() -> None:
    epoch_key, body, answer = os.urandom(32), b'{"q": 1}', b'{"a": 2}'
    ev = event(v=2, time_ms=NOON)
    salt = event_salt(epoch_key, ev["event_id"])
    from notary.submit.digest import request_digest, response_digest

    ev["request_digest"] = request_digest(salt, "GET", "/v1/news/latest?n=3", body_sha256(body))
    ev["response_digest"] = response_digest(salt, 200, body_sha256(answer))
    entry = json.dumps(validate_event(ev), sort_keys=True, separators=(",", ":")).encode()
    revealed = Revealed.from_json(reveal_document(entry, salt))
    assert revealed.scheme == "epoch-hkdf/v1"
    assert revealed.request_matches("/v1/news/latest?n=3", body_sha256(body))
    assert not revealed.request_matches("/v1/news/latest?n=4", body_sha256(body))
    assert not revealed.request_matches("/v1/news/latest?n=3", body_sha256(b""))
    assert revealed.response_matches(body_sha256(answer)) and not revealed.response_matches(body_sha256(body))
    document = reveal_document(entry, salt)
    for field, value in (("event_id", "other"), ("day", "2026-12-02"), ("scheme", "gateway-key/v1")):
        with pytest.raises(MalformedError, match=field):
            Revealed.from_json({**document, field: value})

    gateway_key = Ed25519PrivateKey.generate()
    legacy = GatewaySalt(derive_salt(gateway_key))
    old = event(v=1)
    old["request_digest"] = request_digest(legacy.salt("x", 0), "GET", "/v1/news/latest", body_sha256(b""))
    old_entry = json.dumps(validate_event(old), sort_keys=True, separators=(",", ":")).encode()
    old_revealed = Revealed.from_json(reveal_document(old_entry, derive_salt(gateway_key)))
    assert old_revealed.scheme == "gateway-key/v1" and old_revealed.request_matches("/v1/news/latest")


PASSPHRASE = b"a consortium passphrase"


def test_a_vault_opened_with_the_passphrase_has_a_key_of_its_own_so_the_gateway_key_may_rotate(tmp_path: Path) -> None:
    clock = Clock(NOON)
    first = SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=Ed25519PrivateKey.generate(), clock=clock)
    salt = first.salt("e-1", NOON)
    document = json.loads((tmp_path / "vault-key.json").read_text())
    assert document["format"] == "consortium-ledger/salt-vault-key/v1" and document["kdf"] == "scrypt"
    assert oct((tmp_path / "vault-key.json").stat().st_mode & 0o777) == "0o600"
    # the gateway key rotated: the vault opens with the passphrase alone, its day keys unchanged
    again = SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=Ed25519PrivateKey.generate(), clock=clock)
    assert again.reveal("e-1", NOON) == salt
    assert SaltVault.open(tmp_path, "alpha", PASSPHRASE, clock=clock).reveal("e-1", NOON) == salt


def test_a_vault_made_under_its_gateway_key_keeps_its_day_keys_when_it_gets_a_key_of_its_own(tmp_path: Path) -> None:
    clock, gateway_key = Clock(NOON), Ed25519PrivateKey.generate()
    salt = _vault(tmp_path, clock, gateway_key).salt("e-1", NOON)
    with pytest.raises(VaultError, match="open it once with the gateway key it was made with"):
        SaltVault.open(tmp_path, "alpha", PASSPHRASE, clock=clock)
    assert (
        SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=gateway_key, clock=clock).reveal("e-1", NOON) == salt
    )
    rotated = Ed25519PrivateKey.generate()  # from now on the gateway key no longer matters
    assert SaltVault.open(tmp_path, "alpha", PASSPHRASE, legacy_key=rotated, clock=clock).reveal("e-1", NOON) == salt


def test_a_wrong_passphrase_or_another_providers_vault_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    clock = Clock(NOON)
    salt = SaltVault.open(tmp_path, "alpha", PASSPHRASE, clock=clock).salt("e-1", NOON)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    with pytest.raises(VaultError, match="the passphrase does not open alpha's vault key"):
        SaltVault.open(tmp_path, "alpha", b"not the passphrase", clock=clock)
    with pytest.raises(VaultError, match="is the vault of 'alpha', not of 'beta'"):
        SaltVault.open(tmp_path, "beta", PASSPHRASE, clock=clock)
    (tmp_path / "vault-key.json").write_text('{"format": "something else"}')
    with pytest.raises(VaultError, match="unreadable"):
        SaltVault.open(tmp_path, "alpha", PASSPHRASE, clock=clock)
    assert [n for n, _ in sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())] == [n for n, _ in before]
    assert salt
