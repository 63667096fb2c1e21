"""The salt vault: one random epoch key per provider and UTC day, so that one event's digest salt can be revealed
and one day's can be destroyed without touching any other link between the log and a payload.

Each event's salt is HKDF-SHA256 over the epoch key of the event's UTC day (from its ``time_ms``), without HKDF
salt, with ``info = EVENT_SALT_INFO ‖ event_id`` (UTF-8), 32 bytes::

    salt(event) = HKDF-SHA256(IKM = epoch_key(provider, day(time_ms)), salt = none,
                              info = "consortium-ledger/event-salt/v1\\n" ‖ event_id, L = 32)

Under the national suite (``sm``) the same construction runs with HMAC-SM3 in place of HMAC-SHA256 (HKDF-SM3, RFC
5869 over SM3), and the events are of schema version 3 (:data:`SM3_EVENT_VERSION`), so that an entry says which
hash its salt and digests were made with. The epoch keys are the same under both suites; what seals them at rest
is the suite's (below).

HKDF's output for one ``info`` says nothing about its output for another, so revealing one event's salt reveals
nothing about any other event's, and destroying a day's epoch key ("crypto-shredding") leaves every digest of
that day unlinkable to any payload, while the log, its proofs, checkpoints and anchors are untouched (they hold
only the digests). Events salted this way are version 2 of the event schema (``notary.event``); version 1
events were salted with the gateway's one key-derived salt (``notary.submit.digest.derive_salt``).

Files, in one directory per provider (the gateway's ``gateways/<org>/vault/``, the explorer's
``explorer/vault/``)::

    vault.json                     {"format": "consortium-ledger/salt-vault/v1", "provider": "<org>"}
    vault-key.json                 the vault key, sealed under the consortium passphrase (SaltVault.open)
    <YYYY-MM-DD>.key               the day's epoch key, sealed under the vault key (below)
    <YYYY-MM-DD>.shredded          the tombstone of a destroyed epoch key: when, by whom (JSON)

Every file is written to a temporary file, fsynced and renamed (or hard-linked, for a key, so that two
processes creating the same day's key keep the first one), then the directory is fsynced: a ``kill -9`` leaves
the old state or the new one. Epoch keys are encrypted at rest under the *vault key*, random and sealed under the
consortium passphrase in ``vault-key.json`` (or, for a vault made before it had a key of its own, derived from the
org's gateway key), with the provider and day as associated data: a copy of the directory without the passphrase
opens nothing, and a key file renamed to another day does not decrypt. The suite fixes the algorithms, and a vault
is of one suite for its life (opened under the other, it is refused with :class:`VaultSuiteError`):

    suite  vault key  vault-key.json                                   <YYYY-MM-DD>.key (68 bytes)
    intl   32 bytes   AES-256-GCM under scrypt (n 2^15, r 8, p 1):     "clvault1" ‖ nonce (12) ‖ AES-256-GCM
                      {"kdf": "scrypt", "n", "r", "p", "salt",         ciphertext (32) ‖ tag (16)
                       "nonce", "sealed"}
    sm     16 bytes   SM4-GCM under PBKDF2-HMAC-SM3 (200,000 rounds*): "clvsm4g1" ‖ nonce (12) ‖ SM4-GCM
                      {"kdf": "pbkdf2-hmac-sm3", "iterations",         ciphertext (32) ‖ tag (16)
                       "cipher": "sm4-gcm", "salt", "nonce", "sealed"}

(both documents also hold ``format`` and ``provider``; ``sealed`` is the ciphertext and its 16-byte tag; * or the
operator's ``$CONSORTIUM_SM_KDF_ITERATIONS``, ``suite.sm4.iterations_setting``, the count read back from the
document). A key derived from a gateway key is HKDF-SHA256 of its raw private bytes under ``intl``, HKDF-SM3 under
``sm`` (:func:`vault_key`).

Shredding writes the tombstone first, then overwrites the key file with random bytes, fsyncs, removes it and
fsyncs the directory; a crash in between leaves the tombstone, and the next opening of the vault finishes the
destruction. A tombstoned day never gets a key again, and a reveal of one of its events is refused with the
tombstone (:class:`EpochShreddedError`). Only days that are over (by ``SHRED_GRACE_MS`` past midnight UTC) may be
shredded, since the gateway still salts with the current day's key. Overwriting is what a file system allows:
a journaling or copy-on-write file system, or an SSD, may keep an old block, so the guarantee is as strong as the
storage's deletion; the key never leaves the vault otherwise (only derived salts do).
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from notary.log.errors import MalformedError, NotaryError
from notary.submit.digest import SM3_EVENT_VERSION, digest_hash
from suite import sm4
from suite.errors import SM4Error
from suite.sm2 import PEM_ITERATIONS, SM2PrivateKey, SM2PublicKey

#: A gateway key: Ed25519 under the ``intl`` suite, SM2 under ``sm`` (its raw private bytes are the scalar).
GatewayKey = Ed25519PrivateKey | SM2PrivateKey
_SM2_POINT_SIZE = 65

FORMAT: Final = "consortium-ledger/salt-vault/v1"
EVENT_SALT_INFO: Final = b"consortium-ledger/event-salt/v1\n"
VAULT_KEY_INFO: Final = b"consortium-ledger/salt-vault/key/v1"
SHRED_FORMAT: Final = "consortium-ledger/shred/v1"
#: The event schema version of events salted from a vault (``notary.event``).
EVENT_VERSION: Final = 2
#: What a reveal document calls the salt schemes: of version 2, of version 3 (``sm``), of version 1.
SCHEME_EPOCH: Final = "epoch-hkdf/v1"
SCHEME_EPOCH_SM3: Final = "epoch-hkdf-sm3/v1"
SCHEME_GATEWAY: Final = "gateway-key/v1"
#: The event schema version a vault salts for, by the consortium's suite (``consortium.json``'s ``crypto``).
SUITE_VERSIONS: Final = {"intl": EVENT_VERSION, "sm": SM3_EVENT_VERSION}
EPOCH_KEY_BYTES: Final = 32
DAY_MS: Final = 86_400_000
#: A day may be shredded this long after it ended: a gateway whose clock is a little behind may still salt with it.
SHRED_GRACE_MS: Final = 5 * 60_000
META_FILE: Final = "vault.json"
#: The vault's own key, sealed under the consortium passphrase (:meth:`SaltVault.open`).
VAULT_KEY_FILE: Final = "vault-key.json"
VAULT_KEY_FORMAT: Final = "consortium-ledger/salt-vault-key/v1"
_SCRYPT: Final = {"n": 2**15, "r": 8, "p": 1}
#: Under ``sm``: the vault key's passphrase KDF and cipher as ``vault-key.json`` names them, and PBKDF2's rounds.
SM_KDF: Final = "pbkdf2-hmac-sm3"
SM_CIPHER: Final = "sm4-gcm"
SM_ITERATIONS: Final = PEM_ITERATIONS  # unless the operator sets others (suite.sm4.iterations_setting)
_MIN_SM_ITERATIONS: Final = sm4.MIN_SETTING
#: By suite: the vault key's size, the magic opening an epoch key file, and the algorithms in words.
_KEY_SIZES: Final = {"intl": 32, "sm": sm4.KEY_SIZE}
_MAGICS: Final = {"intl": b"clvault1", "sm": b"clvsm4g1"}
_CIPHERS: Final = {"intl": "AES-256-GCM", "sm": "SM4-GCM"}
_MAGIC: Final = _MAGICS["intl"]
_NONCE: Final = 12
_KEY_FILE_SIZE: Final = len(_MAGIC) + _NONCE + EPOCH_KEY_BYTES + 16
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_ZEROS: Final = bytes(32)
_FILE_MODE: Final = 0o600
_DIR_MODE: Final = 0o700


class VaultError(NotaryError):
    """The vault cannot do what was asked (a day not over, an unreadable key, another provider's vault)."""


class VaultSuiteError(VaultError):
    """The vault is of one suite and was opened under the other (``consortium.json``'s ``crypto``)."""

    def __init__(self, path: Path, found: str, expected: str) -> None:
        self.path, self.found, self.expected = path, found, expected
        super().__init__(
            f"{path} is sealed with {_CIPHERS[found]}: the vault is of the {found!r} suite, but it was opened under "
            f"{expected!r}; a vault keeps the suite of the consortium it was made in (consortium.json's crypto)"
        )


class EpochMissingError(VaultError):
    """No epoch key was ever made for that day (no event of it was salted by this vault)."""


class EpochShreddedError(VaultError):
    """The day's epoch key was destroyed; ``tombstone`` says when and by whom."""

    def __init__(self, tombstone: Tombstone) -> None:
        self.tombstone = tombstone
        super().__init__(
            f"the epoch key of {tombstone.provider} for {tombstone.day} was shredded at "
            f"{_iso_ms(tombstone.shredded_ms)} by {tombstone.by}: no salt of that day can be revealed any more"
        )


# ---------------------------------------------------------------------------------------------- derivation


def epoch_of(time_ms: int) -> str:
    """The UTC day (``YYYY-MM-DD``) of a time in ms since the epoch: the epoch an event's salt comes from."""
    return datetime.fromtimestamp(time_ms // 1000, UTC).date().isoformat()


def check_day(day: str) -> str:
    """``day`` if it is a calendar date written ``YYYY-MM-DD``, else :class:`MalformedError`."""
    if not isinstance(day, str) or _DAY.match(day) is None:
        raise MalformedError(f"{day!r} is not a day written YYYY-MM-DD")
    try:
        date.fromisoformat(day)
    except ValueError:
        raise MalformedError(f"{day!r} is not a calendar day") from None
    return day


def day_end_ms(day: str) -> int:
    """The first millisecond after ``day`` (UTC)."""
    start = datetime.combine(date.fromisoformat(check_day(day)), datetime.min.time(), UTC)
    return int(start.timestamp()) * 1000 + DAY_MS


def event_salt(epoch_key: bytes, event_id: str, hash_name: str = "sha256") -> bytes:
    """The reference derivation: HKDF(epoch key, no salt, info = ``EVENT_SALT_INFO`` ‖ event id) with HMAC-SHA256,
    or with HMAC-SM3 when ``hash_name`` is ``sm3``."""
    info = EVENT_SALT_INFO + event_id.encode("utf-8")
    algorithm = hashes.SM3() if hash_name == "sm3" else hashes.SHA256()
    return HKDF(algorithm=algorithm, length=32, salt=None, info=info).derive(epoch_key)


def _extract(epoch_key: bytes, hash_name: str = "sha256") -> bytes:
    """HKDF-Extract without salt (RFC 5869 §2.2: a string of HashLen zeros; SHA-256 and SM3 are both 32 bytes)."""
    return hmac.new(_ZEROS, epoch_key, hash_name).digest()


def _expand(prk: bytes, event_id: str, hash_name: str = "sha256") -> bytes:
    """HKDF-Expand to 32 bytes: one block, T(1) = HMAC(PRK, info ‖ 0x01); equals :func:`event_salt`."""
    return hmac.new(prk, EVENT_SALT_INFO + event_id.encode("utf-8") + b"\x01", hash_name).digest()


def vault_key(gateway_key: GatewayKey, suite: str = "intl") -> bytes:
    """The vault key derived from a gateway key: what sealed the epoch keys of a vault made before vaults had a key
    of their own (:meth:`SaltVault.open`), and the key of a vault made with :meth:`SaltVault.for_gateway_key`. Under
    ``intl`` 32 bytes (an AES-256 key) of HKDF-SHA256, under ``sm`` 16 bytes (an SM4 key) of HKDF-SM3, of the key's
    raw private bytes, with ``info`` = ``VAULT_KEY_INFO``."""
    raw = gateway_key.private_bytes_raw()
    algorithm = hashes.SM3() if _suite(suite) == "sm" else hashes.SHA256()
    return HKDF(algorithm=algorithm, length=_KEY_SIZES[suite], salt=None, info=VAULT_KEY_INFO).derive(raw)


def _suite(suite: str) -> str:
    if suite not in SUITE_VERSIONS:
        raise ValueError(f"unknown suite {suite!r}: expected intl or sm")
    return suite


def _seal(suite: str, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce (12) ‖ ciphertext ‖ tag (16): AES-256-GCM under ``intl``, SM4-GCM (:func:`suite.sm4.seal`) under ``sm``."""
    if suite == "sm":
        return sm4.seal(key, plaintext, aad)
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _unseal(suite: str, key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    """The plaintext of :func:`_seal`'s ``sealed``, or None if the key, the associated data or the bytes differ."""
    if suite == "sm":
        try:
            return sm4.open_(key, sealed, aad)
        except SM4Error:
            return None
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        return None


def _passphrase_key(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def _seal_vault_key(key: bytes, passphrase: bytes, provider: str, suite: str = "intl") -> bytes:
    salt = os.urandom(16)
    if suite == "sm":
        iterations = sm4.iterations_setting()
        box = sm4.seal(sm4.derive_key(passphrase, salt, iterations), key, _aad(provider, "vault-key"))
        document: dict[str, Any] = {"format": VAULT_KEY_FORMAT, "provider": provider, "kdf": SM_KDF}
        document |= {"iterations": iterations, "cipher": SM_CIPHER, "salt": salt.hex()}
        document |= {"nonce": box[:_NONCE].hex(), "sealed": box[_NONCE:].hex()}
        return json.dumps(document).encode()
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(_passphrase_key(passphrase, salt, **_SCRYPT)).encrypt(nonce, key, _aad(provider, "vault-key"))
    document = {"format": VAULT_KEY_FORMAT, "provider": provider, "kdf": "scrypt", **_SCRYPT}
    document |= {"salt": salt.hex(), "nonce": nonce.hex(), "sealed": sealed.hex()}
    return json.dumps(document).encode()


def _suite_of_document(found: dict[str, Any]) -> str:
    """The suite whose algorithms a ``vault-key.json`` names: ``scrypt`` and no ``cipher`` (AES-256-GCM) is
    ``intl``'s, ``pbkdf2-hmac-sm3`` with ``sm4-gcm`` is ``sm``'s; anything else is ValueError."""
    if found.get("kdf") == "scrypt" and "cipher" not in found:
        return "intl"
    if found.get("kdf") == SM_KDF and found.get("cipher") == SM_CIPHER:
        return "sm"
    raise ValueError(f"kdf {found.get('kdf')!r} and cipher {found.get('cipher', 'aes-256-gcm')!r} are of no suite")


def _unseal_vault_key(path: Path, passphrase: bytes, provider: str, suite: str = "intl") -> bytes:
    try:
        found = json.loads(path.read_bytes())
        if not isinstance(found, dict) or found.get("format") != VAULT_KEY_FORMAT:
            raise ValueError(f"not a {VAULT_KEY_FORMAT} document")
        sealed_under = _suite_of_document(found)
    except (OSError, ValueError) as exc:
        raise VaultError(f"{path}: unreadable: {exc}") from None
    if sealed_under != suite:
        raise VaultSuiteError(path, sealed_under, suite)
    try:
        salt, nonce, sealed = (bytes.fromhex(found[k]) for k in ("salt", "nonce", "sealed"))
        if suite == "sm":
            iterations = found["iterations"]
            if type(iterations) is not int or not _MIN_SM_ITERATIONS <= iterations <= sm4.MAX_ITERATIONS:
                raise ValueError(f"PBKDF2 iterations out of range ({_MIN_SM_ITERATIONS} to {sm4.MAX_ITERATIONS})")
            if len(nonce) != _NONCE:
                raise ValueError(f"the nonce is {len(nonce)} bytes, not {_NONCE}")
            passphrase_key = sm4.derive_key(passphrase, salt, iterations)
        else:
            n, r, p = (int(found[k]) for k in ("n", "r", "p"))
            if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
                raise ValueError("scrypt parameters out of range")
            passphrase_key = _passphrase_key(passphrase, salt, n, r, p)
    except (ValueError, KeyError, TypeError) as exc:  # SM4Error is a ValueError
        raise VaultError(f"{path}: unreadable: {exc}") from None
    key = _unseal(suite, passphrase_key, nonce + sealed, _aad(provider, "vault-key"))
    if key is None:
        raise VaultError(
            f"{path}: the passphrase does not open {provider}'s vault key (the consortium passphrase sealed it)"
        )
    if len(key) != _KEY_SIZES[suite]:
        raise VaultError(f"{path}: the vault key is {len(key)} bytes, not {_KEY_SIZES[suite]}")
    return key


def _aad(provider: str, day: str) -> bytes:
    return f"{FORMAT}\n{provider}\n{day}".encode()


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------- tombstones


@dataclass(frozen=True, slots=True)
class Tombstone:
    """That the epoch key of ``provider`` for ``day`` was destroyed, at ``shredded_ms``, by ``by``."""

    provider: str
    day: str
    shredded_ms: int
    by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SHRED_FORMAT,
            "provider": self.provider,
            "day": self.day,
            "shredded_ms": self.shredded_ms,
            "by": self.by,
        }

    @classmethod
    def from_json(cls, obj: object) -> Tombstone:
        if not isinstance(obj, Mapping) or obj.get("format") != SHRED_FORMAT:
            raise MalformedError(f"not a {SHRED_FORMAT} tombstone")
        provider, day, ms, by = obj.get("provider"), obj.get("day"), obj.get("shredded_ms"), obj.get("by")
        if not isinstance(provider, str) or not isinstance(by, str) or type(ms) is not int or ms < 0:
            raise MalformedError("a tombstone needs provider, day, shredded_ms and by")
        return cls(provider, check_day(str(day)), ms, by)

    def statement(self) -> bytes:
        """The bytes a signed shred statement signs: the context line, then the tombstone in canonical JSON."""
        body = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"{SHRED_FORMAT}\n{body}".encode()

    def signed(self, key: GatewayKey) -> dict[str, Any]:
        """The tombstone as a statement signed with the provider's gateway key, to publish."""
        return {**self.to_json(), "signature": base64.b64encode(key.sign(self.statement())).decode("ascii")}

    @classmethod
    def from_signed(cls, obj: object, public_key: bytes) -> Tombstone:
        """The tombstone of a signed statement whose signature verifies under ``public_key`` (the provider's raw
        gateway key: 32 bytes of Ed25519, or a 65-byte SM2 point whose signature is r ‖ s under the ID
        ``1234567812345678``), else :class:`MalformedError`."""
        tombstone = cls.from_json(obj)
        assert isinstance(obj, Mapping)
        signature = obj.get("signature")
        if set(obj) != {*tombstone.to_json(), "signature"} or not isinstance(signature, str):
            raise MalformedError("a shred statement holds exactly the tombstone's fields and its signature")
        try:
            raw, statement = base64.b64decode(signature, validate=True), tombstone.statement()
            if len(public_key) == _SM2_POINT_SIZE:
                SM2PublicKey.from_bytes(public_key).verify(raw, statement)  # SM2Error, a ValueError, if not
            else:
                Ed25519PublicKey.from_public_bytes(public_key).verify(raw, statement)
        except (InvalidSignature, ValueError):
            raise MalformedError(f"the shred statement of {tombstone.provider} for {tombstone.day} is not signed "
                                 "by its gateway key") from None  # fmt: skip
        return tombstone


# ---------------------------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged(directory: Path, data: bytes) -> str:
    """A temporary file in ``directory`` holding ``data``, fsynced."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def _replace(path: Path, data: bytes) -> None:
    tmp = _staged(path.parent, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _create_once(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists (atomically, across processes); True if created."""
    tmp = _staged(path.parent, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


def _check_key_file_suite(path: Path, suite: str, data: bytes | None = None) -> None:
    """That ``path`` (holding ``data`` if read already) is an epoch key file of ``suite``: :class:`VaultSuiteError`
    if it is of the other suite's, :class:`VaultError` if of none."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VaultError(f"{path}: unreadable: {exc}") from None
    found = next((name for name, magic in _MAGICS.items() if data.startswith(magic)), None)
    if len(data) != _KEY_FILE_SIZE or found is None:
        raise VaultError(f"{path} is not an epoch key file")
    if found != suite:
        raise VaultSuiteError(path, found, suite)


def _destroy(path: Path) -> bool:
    """Overwrite ``path`` with random bytes, fsync, remove it, fsync its directory; False if it did not exist."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        size = max(os.fstat(fd).st_size, _KEY_FILE_SIZE)
        os.write(fd, os.urandom(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    _fsync_dir(path.parent)
    return True


# ---------------------------------------------------------------------------------------------- the vault


class SaltVault:
    """The epoch keys of one provider in ``directory``; gives each event its salt (:meth:`salt`), reveals one
    (:meth:`reveal`), destroys a day (:meth:`shred`). Safe to share between threads; several processes may
    open one directory (the first key made for a day wins). ``suite`` is the consortium's (``intl`` or ``sm``): it
    fixes the hash of the salts handed out, the schema version (:attr:`version`) of the events they salt, and the
    cipher of the epoch key files (AES-256-GCM under a 32-byte ``key``, or SM4-GCM under a 16-byte one)."""

    def __init__(
        self,
        directory: Path,
        provider: str,
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
        suite: str = "intl",
    ) -> None:
        if len(key) != _KEY_SIZES[_suite(suite)]:
            raise ValueError(f"the vault key of an {suite} vault is {_KEY_SIZES[suite]} bytes")
        #: The schema version of the events this vault salts: 2 under ``intl``, 3 under ``sm``.
        self.version: Final = SUITE_VERSIONS[suite]
        self._hash = digest_hash(self.version)
        self.directory = Path(directory)
        self.provider = provider
        self._suite = suite
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._prks: dict[str, bytes] = {}  # day → HKDF PRK of its epoch key, for the days in use
        self._today: tuple[int, str] = (-1, "")  # (ms // DAY_MS, its epoch_of): the day of the last salt made
        self._open()

    @classmethod
    def for_gateway_key(
        cls,
        directory: Path,
        provider: str,
        gateway_key: GatewayKey,
        *,
        clock: Callable[[], float] = time.time,
        suite: str = "intl",
    ) -> SaltVault:
        return cls(directory, provider, vault_key(gateway_key, suite), clock=clock, suite=suite)

    @classmethod
    def open(
        cls,
        directory: Path,
        provider: str,
        passphrase: bytes,
        *,
        legacy_key: GatewayKey | None = None,
        clock: Callable[[], float] = time.time,
        suite: str = "intl",
    ) -> SaltVault:
        """The vault in ``directory`` under its own key: random bytes made at the first open and kept in
        ``vault-key.json``, sealed under a key of the consortium ``passphrase`` (AES-256-GCM under scrypt, or under
        ``sm`` SM4-GCM under PBKDF2-HMAC-SM3). It depends on no other key, so the gateway key can rotate without
        touching the epoch keys. A vault made before it had a key of its own (its epoch keys sealed under a key
        derived from the gateway key, :func:`vault_key`) keeps that derived key as its own when opened with
        ``legacy_key``, the gateway key it was made with. A vault of the other suite raises
        :class:`VaultSuiteError` and is left as it was."""
        _suite(suite)
        directory = Path(directory)
        owner = cls.provider_of(directory)
        if owner is not None and owner != provider:
            raise VaultError(f"{directory} is the vault of {owner!r}, not of {provider!r}")
        directory.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        path = directory / VAULT_KEY_FILE
        if not path.exists():
            older = sorted(p for p in directory.glob("*.key") if _DAY.match(p.stem))
            for found in older[:1]:
                _check_key_file_suite(found, suite)
            if older and legacy_key is None:
                raise VaultError(
                    f"{directory} holds epoch keys sealed under its gateway key and no key of its own: open it once "
                    "with the gateway key it was made with"
                )
            size = _KEY_SIZES[suite]
            key = vault_key(legacy_key, suite) if older and legacy_key is not None else os.urandom(size)
            if _create_once(path, _seal_vault_key(key, passphrase, provider, suite)):  # another process's key wins
                return cls(directory, provider, key, clock=clock, suite=suite)  # no second run of the passphrase KDF
        key = _unseal_vault_key(path, passphrase, provider, suite)
        return cls(directory, provider, key, clock=clock, suite=suite)

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        meta = self.directory / META_FILE
        _create_once(meta, json.dumps({"format": FORMAT, "provider": self.provider}).encode())
        try:
            found = json.loads(meta.read_bytes())
        except (OSError, ValueError) as exc:
            raise VaultError(f"{meta}: unreadable: {exc}") from None
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise VaultError(f"{meta}: not a {FORMAT} vault")
        if found.get("provider") != self.provider:
            raise VaultError(f"{self.directory} is the vault of {found.get('provider')!r}, not of {self.provider!r}")
        for tombstone in self.tombstones():  # finish a shred that a crash interrupted
            _destroy(self._key_path(tombstone.day))

    @staticmethod
    def provider_of(directory: Path) -> str | None:
        """The provider whose vault ``directory`` is, or None if it holds none."""
        try:
            found = json.loads((Path(directory) / META_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        provider = found.get("provider") if isinstance(found, dict) and found.get("format") == FORMAT else None
        return provider if isinstance(provider, str) else None

    def _key_path(self, day: str) -> Path:
        return self.directory / f"{check_day(day)}.key"

    def _tombstone_path(self, day: str) -> Path:
        return self.directory / f"{check_day(day)}.shredded"

    # ------------------------------------------------------------------------------------------ salts

    def salt(self, event_id: str, time_ms: int) -> bytes:
        """The salt of a new event: its day's epoch key is made on first use. Raises
        :class:`EpochShreddedError` for a day already shredded (a clock that went back past midnight)."""
        number = time_ms // DAY_MS  # the UTC day's number: its name is written once a day, not at each event
        known, day = self._today
        if number != known:
            day = epoch_of(time_ms)
            self._today = (number, day)
        prks = self._prks
        prk = prks.get(day) if len(prks) == 1 else None  # with two days in memory, see whether one may go
        if prk is None:
            prk = self._prk(day, create=True)
        return _expand(prk, event_id, self._hash)

    def reveal(self, event_id: str, time_ms: int, version: int | None = None) -> bytes:
        """The salt of an existing event of schema ``version`` (2: HKDF-SHA256, 3: HKDF-SM3; by default the version
        this vault salts for), whatever the vault's own suite: the entry says how it was salted. Never makes a key.
        Raises :class:`EpochShreddedError` or :class:`EpochMissingError`, :class:`VaultError` for a version whose
        salt no vault gives (1)."""
        version = self.version if version is None else version
        if version not in SUITE_VERSIONS.values():
            raise VaultError(f"events of schema version {version} are not salted from a vault")
        hash_name = digest_hash(version)
        day = epoch_of(time_ms)
        if hash_name != self._hash:  # the PRKs kept in memory are of the vault's own hash
            with self._lock:
                return _expand(_extract(self._epoch_key(day, create=False), hash_name), event_id, hash_name)
        return _expand(self._prk(day, create=False), event_id, hash_name)

    def _prk(self, day: str, *, create: bool) -> bytes:
        with self._lock:
            now_ms = int(self._clock() * 1000)
            for old in [d for d in self._prks if day_end_ms(d) + SHRED_GRACE_MS <= now_ms]:
                del self._prks[old]  # a day that may be shredded is not kept in memory
            prk = self._prks.get(day)
            if prk is not None:
                return prk
            prk = _extract(self._epoch_key(day, create=create), self._hash)
            if create and day_end_ms(day) + SHRED_GRACE_MS > now_ms:
                self._prks[day] = prk
            return prk

    def _epoch_key(self, day: str, *, create: bool) -> bytes:
        """The epoch key of ``day`` from its file (made when ``create``); the caller holds the lock."""
        tombstone = self.tombstone(day)
        if tombstone is not None:
            raise EpochShreddedError(tombstone)
        key = self._read(day)
        if key is None:
            if not create:
                raise EpochMissingError(
                    f"{self.directory} holds no epoch key of {self.provider} for {day}: no event of that day "
                    "was salted by this vault"
                )
            key = self._make(day)
        return key

    def _read(self, day: str) -> bytes | None:
        try:
            data = self._key_path(day).read_bytes()
        except FileNotFoundError:
            return None
        path = self._key_path(day)
        _check_key_file_suite(path, self._suite, data)
        key = _unseal(self._suite, self._key, data[len(_MAGIC) :], _aad(self.provider, day))
        if key is None:
            raise VaultError(f"{path} does not decrypt: another org's gateway key, or the file was altered")
        return key

    def _make(self, day: str) -> bytes:
        key = os.urandom(EPOCH_KEY_BYTES)
        blob = _MAGICS[self._suite] + _seal(self._suite, self._key, key, _aad(self.provider, day))
        if not _create_once(self._key_path(day), blob):
            found = self._read(day)  # another process made it first
            assert found is not None
            key = found
        if self.tombstone(day) is not None:  # shredded meanwhile: the key just made must not survive
            _destroy(self._key_path(day))
            raise EpochShreddedError(self.tombstone(day))  # type: ignore[arg-type]
        return key

    # ------------------------------------------------------------------------------------------ shredding

    def days(self) -> list[str]:
        """The days that have an epoch key, oldest first."""
        return sorted(p.stem for p in self.directory.glob("*.key") if _DAY.match(p.stem))

    def tombstone(self, day: str) -> Tombstone | None:
        try:
            data = self._tombstone_path(day).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Tombstone.from_json(json.loads(data))
        except (ValueError, MalformedError) as exc:
            raise VaultError(f"{self._tombstone_path(day)}: unreadable tombstone: {exc}") from None

    def tombstones(self) -> list[Tombstone]:
        """Every shredded day's tombstone, oldest day first."""
        found = []
        for path in sorted(self.directory.glob("*.shredded")):
            if _DAY.match(path.stem):
                tombstone = self.tombstone(path.stem)
                if tombstone is not None:
                    found.append(tombstone)
        return found

    def shred(self, day: str, by: str, *, now_ms: int | None = None) -> tuple[Tombstone, bool]:
        """Destroy the epoch key of ``day`` for good; (its tombstone, whether a key was destroyed now).

        Refuses (:class:`VaultError`) a day that is not over by ``SHRED_GRACE_MS``. Shredding a day again returns
        its first tombstone (and finishes the destruction if a crash interrupted it); a day without a key gets a
        tombstone too, so that none is ever made for it."""
        check_day(day)
        if not by or "\n" in by:
            raise MalformedError("say who shreds, on one line")
        now = int(self._clock() * 1000) if now_ms is None else now_ms
        if day_end_ms(day) + SHRED_GRACE_MS > now:
            raise VaultError(
                f"{day} is not over (until {_iso_ms(day_end_ms(day) + SHRED_GRACE_MS)}): the gateway may still "
                f"salt events with its epoch key; shred it after that"
            )
        with self._lock:
            self._prks.pop(day, None)
            tombstone = self.tombstone(day)
            if tombstone is None:
                tombstone = Tombstone(self.provider, day, now, by)
                _replace(self._tombstone_path(day), json.dumps(tombstone.to_json(), indent=1).encode())
            destroyed = _destroy(self._key_path(day))
        return tombstone, destroyed
