"""Customer identifiers: one normal form per identifier, and the per-job keyed form that enters the protocol.

Normal form (what two firms must agree on before a match can be found) of ``raw``:

1. Unicode NFKC (full-width digits, letters and the full-width colon become ASCII), strip surrounding
   whitespace, upper-case;
2. split at the first ``:`` into a scheme and a value, and drop every space and ``-`` from the value;
3. by scheme:

   - ``CNID``: a resident identity number of GB 11643-1999: 17 digits and a check character (``0-9`` or
     ``X``) that must match ISO 7064 MOD 11-2 over the 17 digits;
   - ``ACCT``: an account id: 1-64 characters of ``A-Z`` and ``0-9``.

The normal form is ``<SCHEME>:<value>``, e.g. ``cnid: 11010519491231002x`` → ``CNID:11010519491231002X``.
Anything else is refused with :class:`~privacy.errors.MalformedError`: a silently different form would make a
shared customer look unshared.

Keyed form: HMAC-SHA256 (RFC 2104) under the job key of the UTF-8 normal form. The job key is
HKDF-SHA256 (RFC 5869) of a 32-byte job secret that the client draws and seals to the server inside its first
message (``privacy.psi``, RFC 9180 HPKE); neither the secret nor the key appears in any message in the clear,
in the job record or in the log, so neither the operator nor the notary can test a guessed identifier against
the keyed sets, and keyed values of two jobs cannot be linked.

Under the national suite (``suite="sm"``) the same two steps use SM3 (GB/T 32905): the job key is HKDF (RFC 5869)
instantiated with HMAC-SM3, under its own label, and the keyed form is HMAC-SM3 (the HMAC construction of
RFC 2104 / GB/T 15852.2 over SM3), 32 bytes as well.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy.errors import MalformedError

SCHEMES: Final = ("ACCT", "CNID")
JOB_SECRET_SIZE: Final = 32
_CNID = re.compile(r"[0-9]{17}[0-9X]\Z")
_ACCT = re.compile(r"[A-Z0-9]{1,64}\Z")
_CNID_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_MAX_RAW: Final = 256
_KEY_INFO: Final = b"consortium-ledger psi job key v1\x00"
_KEY_INFO_SM: Final = b"consortium-ledger psi job key sm3 v1\x00"
#: Per suite: the hash of the job key's HKDF and of the identifiers' HMAC (hashlib and cryptography names).
_HASHES: Final = {"intl": ("sha256", hashes.SHA256()), "sm": ("sm3", hashes.SM3())}


def cnid_check_character(digits17: str) -> str:
    """The GB 11643-1999 check character of 17 digits: ISO 7064 MOD 11-2, 10 written ``X``."""
    total = sum(int(c) * w for c, w in zip(digits17, _CNID_WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def normalise_identifier(raw: str) -> str:
    """The normal form of ``raw`` (see the module docstring); raises MalformedError if it has none."""
    if len(raw) > _MAX_RAW:
        raise MalformedError(f"identifier is {len(raw)} characters long, at most {_MAX_RAW} are accepted")
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    scheme, colon, value = text.partition(":")
    if not colon:
        raise MalformedError(f"identifier {raw!r} names no scheme: write '<scheme>:<value>' with one of {SCHEMES}")
    scheme = scheme.strip()
    value = value.replace(" ", "").replace("-", "")
    if scheme == "CNID":
        if _CNID.match(value) is None:
            raise MalformedError(f"identifier {raw!r}: a CNID is 17 digits and a check character (0-9 or X)")
        if cnid_check_character(value[:17]) != value[17]:
            raise MalformedError(f"identifier {raw!r}: the CNID check character does not match (GB 11643-1999)")
    elif scheme == "ACCT":
        if _ACCT.match(value) is None:
            raise MalformedError(f"identifier {raw!r}: an ACCT value is 1-64 characters of A-Z and 0-9")
    else:
        raise MalformedError(f"identifier {raw!r}: unknown scheme {scheme!r}; expected one of {SCHEMES}")
    return f"{scheme}:{value}"


def is_normal(identifier: str) -> bool:
    """Whether ``identifier`` is already in normal form."""
    try:
        return normalise_identifier(identifier) == identifier
    except MalformedError:
        return False


def normalise_set(raws: Iterable[str]) -> list[str]:
    """The distinct normal forms of ``raws``, sorted; raises MalformedError at the first bad identifier."""
    return sorted({normalise_identifier(raw) for raw in raws})


def _hashes(suite: str) -> tuple[str, hashes.HashAlgorithm]:
    try:
        return _HASHES[suite]
    except KeyError:
        raise MalformedError(
            f"unknown suite {suite!r} for keying identifiers: choose one of {sorted(_HASHES)}"
        ) from None


def derive_job_key(job_secret: bytes, job_id: str, suite: str = "intl") -> bytes:
    """The 32-byte HMAC key of one job: HKDF(secret, info = label ‖ job id), no salt; over SHA-256 (``intl``) or
    SM3 (``sm``, another label)."""
    if len(job_secret) != JOB_SECRET_SIZE:
        raise MalformedError(f"job secret is {len(job_secret)} bytes, not {JOB_SECRET_SIZE}")
    _, algorithm = _hashes(suite)
    label = _KEY_INFO_SM if suite == "sm" else _KEY_INFO
    hkdf = HKDF(algorithm=algorithm, length=32, salt=None, info=label + job_id.encode("utf-8"))
    return hkdf.derive(job_secret)


def key_identifier(job_key: bytes, identifier: str, suite: str = "intl") -> bytes:
    """HMAC-SHA256 (``intl``) or HMAC-SM3 (``sm``) of the UTF-8 normal form under the job key: 32 bytes."""
    name, _ = _hashes(suite)
    return hmac.new(job_key, identifier.encode("utf-8"), name).digest()


def key_identifiers(job_key: bytes, identifiers: Iterable[str], suite: str = "intl") -> list[bytes]:
    """:func:`key_identifier` of each of ``identifiers``, in order."""
    name, _ = _hashes(suite)
    return [hmac.new(job_key, identifier.encode("utf-8"), name).digest() for identifier in identifiers]
