"""People of an ``sm`` consortium: SM2 certificates from the member's SM2 identity CA, the SM2 CRL, SM2SM3 login
tokens and the explorer's check of them (``network.logins``), with every refusal reason.

Real org identities made under ``sm`` (``create_org_identity(crypto="sm")``), people issued as ``consortium user
add`` does (``issue_identity(..., role=...)``), a ``consortium.json`` naming the members, revocations by
``revoke_identity``. Tokens the code would not make are assembled by hand. The clocks are settable ones.

Members: acme (a firm), finreg (the regulator) and legacy, an ``sm`` member made before the SM2 identity CAs (its
``sm2-ca`` files removed before ``consortium.json`` is written): its people stay ECDSA P-256. Outside: umbrella.
The world, the clock and the claims are ``tests/support/people_world.py``'s, shared with ``test_logins.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import gmssl_pyx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chain.ids import OrgId, Role
from network import _sm2ca
from network.certificates import CRL_CHECK_INTERVAL_S
from network.identity import (
    CertificateError,
    OrgPaths,
    certificate_role,
    create_org_identity,
    issue_identity,
    load_crl,
    load_sm2_ca_key,
    load_sm2_crl,
    revoke_identity,
    user_paths,
)
from network.logins import SM2_ALGORITHM
from notary.event import caller_identity
from suite.sm2 import DEFAULT_ID, SM2PrivateKey
from suite.x509 import Certificate, verify_chain
from tests.support.clock import Clock as MonotonicClock
from tests.support.member_directory import write_description
from tests.support.people_world import (
    CREATED,
    NOW,
    Clock,
    PeopleWorld,
    b64url,
    bearer,
    claims,
    people_world,
    refused,
)

PASS = b"sm2 people passphrase"
MEMBERS: dict[str, tuple[str, Role]] = {
    "acme": ("ACME Securities", Role.MEMBER),
    "finreg": ("Financial Regulator", Role.REGULATOR | Role.WITNESS),
    "legacy": ("Legacy Bank", Role.MEMBER),
}
World = PeopleWorld


def _before_the_sm2_cas(root: Path) -> None:
    """legacy, an ``sm`` member made before the SM2 identity CAs: no ``sm2-ca`` files."""
    legacy = OrgPaths.of(root, OrgId("legacy"))
    legacy.sm2_ca_cert.unlink()
    legacy.sm2_ca_key.unlink()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    people = [
        ("acme", "alice", "compliance"),
        ("acme", "carol", "operator"),  # revoked by a test
        ("acme", "dave", "operator"),  # revoked by a test
        ("finreg", "ivy", "regulator"),
        ("legacy", "lee", "compliance"),
    ]
    return people_world(tmp_path_factory, MEMBERS, people, PASS, crypto="sm", before_description=_before_the_sm2_cas)


def sm2_token(
    der: bytes, key: SM2PrivateKey, payload: dict[str, Any], *, alg: str = SM2_ALGORITHM, signature: bytes | None = None
) -> str:
    """An SM2SM3 token assembled by hand: the certificate ``der`` in x5c, signed by ``key``."""
    header = {"alg": alg, "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    sig = key.sign(signing_input.encode("ascii"), DEFAULT_ID) if signature is None else signature
    return f"{signing_input}.{b64url(sig)}"


# ------------------------------------------------------------------------------------------ certificates and CRL


def test_a_person_of_an_sm_member_gets_an_sm2_certificate_of_its_sm2_ca(world: World) -> None:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    ca = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
    alice = world.cert("acme", "alice")
    assert alice.subject == "CN=alice@acme,2.5.4.12=#0c0a636f6d706c69616e6365,OU=acme,O=ACME Securities"
    assert _sm2ca.attributes(alice, "title") == ["compliance"]
    assert certificate_role(x509.load_pem_x509_certificate(world.cert_pem("acme", "alice"))) == "compliance"
    assert alice.ext_key_usage == frozenset({"client_auth"}) and not alice.is_ca
    assert verify_chain(alice.der, [], [ca.der], at=NOW, usage="client") == [alice, ca]
    user = user_paths(world.root, OrgId("acme"), "alice")
    assert user.ca_cert.read_bytes() == paths.sm2_ca_cert.read_bytes()
    key = world.key("acme", "alice")
    assert isinstance(key, SM2PrivateKey) and key.public_key() == alice.public_key
    assert user.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_callers_and_the_people_of_a_member_without_a_listed_sm2_ca_stay_p256(world: World, tmp_path: Path) -> None:
    # an org whose SM2 CA exists, but that no consortium.json lists, nor an admission request of its own carries
    create_org_identity(tmp_path, OrgId("joiner"), "Joiner", PASS, now=CREATED, crypto="sm")
    assert OrgPaths.of(tmp_path, OrgId("joiner")).sm2_ca_cert.is_file()
    issue_identity(tmp_path, OrgId("joiner"), "jo", PASS, now=NOW, role="operator")
    for org, name, root in (("acme", "bob", None), ("legacy", "lee", None), ("joiner", "jo", tmp_path)):
        assert isinstance(world.key(org, name, root), ec.EllipticCurvePrivateKey)
        cert = x509.load_pem_x509_certificate(world.cert_pem(org, name, root))
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_revoking_sm2_people_grows_the_sm2_crl(world: World, tmp_path: Path) -> None:
    root = tmp_path
    create_org_identity(root, OrgId("acme"), "ACME", PASS, now=CREATED, crypto="sm")
    write_description(root, {"acme": ("ACME", Role.MEMBER)}, crypto="sm")
    for name in ("p1", "p2"):
        issue_identity(root, OrgId("acme"), name, PASS, now=NOW, role="operator")
    first, second = (user_paths(root, OrgId("acme"), n).cert.read_bytes() for n in ("p1", "p2"))
    path = revoke_identity(root, OrgId("acme"), first, PASS, now=NOW)
    assert path == OrgPaths.of(root, OrgId("acme")).sm2_crl
    crl = load_sm2_crl(root, OrgId("acme"))
    assert crl is not None and crl.crl_number == 1 and crl.revoked == {Certificate.from_pem(first).serial: NOW}
    assert crl.next_update == NOW + timedelta(days=30)
    revoke_identity(root, OrgId("acme"), first, PASS, now=NOW + timedelta(hours=1))  # twice: unchanged
    assert load_sm2_crl(root, OrgId("acme")) == crl
    revoke_identity(root, OrgId("acme"), second, PASS, now=NOW + timedelta(hours=2))
    grown = load_sm2_crl(root, OrgId("acme"))
    assert grown is not None and grown.crl_number == 2 and len(grown.revoked) == 2
    assert load_crl(root, OrgId("acme")) is None  # the P-256 CRL is untouched
    with pytest.raises(CertificateError, match="not issued by the SM2 CA of org 'acme'"):
        revoke_identity(root, OrgId("acme"), world.cert_pem("umbrella", "zed", world.outside), PASS)


# ------------------------------------------------------------------------------------------ tokens


def test_an_sm2_token_logs_the_person_in(world: World) -> None:
    token = world.token("acme", "alice")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "SM2SM3" and header["typ"] == "JWT" and len(header["x5c"]) == 1
    person = world.auth().authenticate(bearer(token))
    der = world.cert("acme", "alice").der
    assert (person.org, person.name, person.role) == ("acme", "alice", "compliance")
    assert person.identity_for(3) == hashlib.new("sm3", der).hexdigest() == caller_identity(der, 3)
    assert person.identity_for(2) == hashlib.sha256(der).hexdigest()
    assert world.auth().authenticate(bearer(world.token("finreg", "ivy"))).is_regulator
    assert world.auth().authenticate(bearer(world.token("legacy", "lee"))).name == "lee"  # ES256, P-256


def test_gmssl_verifies_the_tokens_signature(world: World) -> None:
    token = world.token("acme", "alice")
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert len(raw) == 64
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    der = _der_signature(r, s)
    point = world.cert("acme", "alice").public_key.public_bytes()[1:]
    assert gmssl_pyx.sm2_verify(point, signing_input.encode(), der, DEFAULT_ID)
    assert not gmssl_pyx.sm2_verify(point, signing_input.encode() + b"x", der, DEFAULT_ID)


def _der_signature(r: int, s: int) -> bytes:
    def integer(v: int) -> bytes:
        body = v.to_bytes((v.bit_length() + 8) // 8, "big")
        return b"\x02" + bytes([len(body)]) + body

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def test_the_algorithm_must_match_the_certificate(world: World) -> None:
    alice = world.cert("acme", "alice")
    p256 = ec.generate_private_key(ec.SECP256R1())
    es256 = jwt.encode(claims(), p256, algorithm="ES256", headers={"x5c": [base64.b64encode(alice.der).decode()]})
    assert "SM2 certificate" in refused("bad_signature", lambda: world.auth().authenticate(bearer(es256))).detail
    lee = x509.load_pem_x509_certificate(world.cert_pem("legacy", "lee"))
    from cryptography.hazmat.primitives.serialization import Encoding

    sm2_over_p256 = sm2_token(lee.public_bytes(Encoding.DER), SM2PrivateKey.generate(), claims("lee@legacy"))
    error = refused("bad_signature", lambda: world.auth().authenticate(bearer(sm2_over_p256)))
    assert "not an SM2 certificate" in error.detail


def test_signature_refusals(world: World) -> None:
    der = world.cert("acme", "alice").der
    auth = world.auth()
    other = sm2_token(der, SM2PrivateKey.generate(), claims())
    assert "does not verify" in refused("bad_signature", lambda: auth.authenticate(bearer(other))).detail
    short = sm2_token(der, SM2PrivateKey.generate(), claims(), signature=b"\x01" * 63)
    refused("bad_signature", lambda: auth.authenticate(bearer(short)))
    good = world.token("acme", "alice")
    head, body, _sig = good.split(".")
    altered = f"{head}.{b64url(json.dumps(claims(sub='carol@acme')).encode())}.{_sig}"
    refused("bad_signature", lambda: auth.authenticate(bearer(altered)))
    refused("malformed_token", lambda: auth.authenticate(bearer(f"{head}.{body}.!!!!")))
    refused("malformed_token", lambda: auth.authenticate(bearer(f"{head}.{body}.{body}.{_sig}")))
    refused("malformed_token", lambda: auth.authenticate(bearer(f"{head}.{body}é.{_sig}")))


def test_issuer_identity_and_role_refusals(world: World) -> None:
    auth = world.auth()
    zed = world.token("umbrella", "zed", world.outside)
    assert "no SM2 identity CA" in refused("unknown_issuer", lambda: auth.authenticate(bearer(zed))).detail
    # umbrella's SM2 CA issues a certificate claiming OU=acme: names and signature fail
    umbrella_ca = Certificate.from_pem(OrgPaths.of(world.outside, OrgId("umbrella")).sm2_ca_cert.read_bytes())
    umbrella_key = load_sm2_ca_key(world.outside, OrgId("umbrella"), PASS)
    person = SM2PrivateKey.generate()
    start, end = NOW - timedelta(hours=1), NOW + timedelta(days=1)
    fake = _sm2ca.issue_person(
        umbrella_ca, umbrella_key, person.public_key(), "mallory", "acme", "compliance", start, end
    )
    forged = sm2_token(fake, person, claims("mallory@acme"))
    refused("unknown_issuer", lambda: auth.authenticate(bearer(forged)))
    # the SM2 CA's own certificate, signed with its key, is not a person
    acme_ca = Certificate.from_pem(OrgPaths.of(world.root, OrgId("acme")).sm2_ca_cert.read_bytes())
    acme_key = load_sm2_ca_key(world.root, OrgId("acme"), PASS)
    as_ca = sm2_token(acme_ca.der, acme_key, claims("sm2-ca.acme"))
    refused("not_an_identity", lambda: auth.authenticate(bearer(as_ca)))
    # an SM2 identity without a role; a regulator of an org that is none
    bare = _sm2ca.issue_person(acme_ca, acme_key, person.public_key(), "nobody", "acme", None, start, end)
    no_role = sm2_token(bare, person, claims("nobody@acme"))
    refused("no_role", lambda: auth.authenticate(bearer(no_role)))
    assert "not a regulator" in refused("no_role", lambda: auth.authenticate(bearer(world.token("acme", "rex")))).detail


def test_claims_refusals(world: World) -> None:
    der, key = world.cert("acme", "alice").der, world.key("acme", "alice")
    auth = world.auth()

    def check(reason: str, payload: dict[str, Any]) -> None:
        refused(reason, lambda: auth.authenticate(bearer(sm2_token(der, key, payload))))

    check("wrong_audience", claims(aud="consortium-gateway"))
    check("wrong_audience", claims(aud=None))
    check("malformed_token", claims(jti=None))
    check("malformed_token", claims(sub="carol@acme"))
    check("malformed_token", claims(exp="tomorrow"))
    check("lifetime_too_long", claims(exp=int(NOW.timestamp()) + 31 * 86_400))
    clock = Clock()
    timed = world.auth(clock)
    token = world.token("acme", "alice", hours=1)
    clock.now = NOW + timedelta(hours=1)
    refused("credentials_expired", lambda: timed.authenticate(bearer(token)))
    clock.now = NOW - timedelta(minutes=2)
    refused("token_not_yet_valid", lambda: timed.authenticate(bearer(token)))


def test_certificate_expired(world: World) -> None:
    clock = Clock()
    auth = world.auth(clock)
    cert = world.cert("acme", "alice")
    token = world.token("acme", "alice", now=cert.not_after - timedelta(hours=1))
    clock.now = cert.not_after - timedelta(minutes=30)
    assert auth.authenticate(bearer(token)).name == "alice"
    clock.now = cert.not_after + timedelta(seconds=1)
    assert "expired" in refused("certificate_expired", lambda: auth.authenticate(bearer(token))).detail


def test_certificate_revoked_is_honoured_on_every_request(world: World) -> None:
    crl_clock = MonotonicClock()
    auth = world.auth(crl_clock=crl_clock)
    token = world.token("acme", "carol")
    assert auth.authenticate(bearer(token)).name == "carol"
    revoke_identity(world.root, OrgId("acme"), world.cert_pem("acme", "carol"), PASS)
    crl_clock.now += CRL_CHECK_INTERVAL_S - 0.001
    assert auth.authenticate(bearer(token)).name == "carol"  # looked at less than an interval ago
    crl_clock.now += 0.001
    assert "CN=carol@acme" in refused("certificate_revoked", lambda: auth.authenticate(bearer(token))).detail
    assert auth.authenticate(bearer(world.token("acme", "alice"))).name == "alice"  # only carol


def test_an_sm2_crl_that_cannot_be_trusted_refuses_every_person_of_the_org(world: World, tmp_path: Path) -> None:
    crl_path = OrgPaths.of(world.root, OrgId("acme")).sm2_crl
    revoke_identity(world.root, OrgId("acme"), world.cert_pem("acme", "dave"), PASS)
    kept = crl_path.read_bytes()
    try:
        stranger = SM2PrivateKey.generate()
        fake_ca = Certificate.from_der(
            _sm2ca.build_ca(stranger, "ACME Securities", "acme", CREATED, NOW + timedelta(days=9))
        )
        crl_path.write_bytes(_sm2ca.build_crl(fake_ca, stranger, [], NOW, NOW + timedelta(days=30), 99))
        error = refused("certificate_revoked", lambda: world.auth().authenticate(bearer(world.token("acme", "alice"))))
        assert "cannot be checked" in error.detail
    finally:
        crl_path.write_bytes(kept)


def test_unknown_member(world: World) -> None:
    auth = world.auth()
    token = world.token("acme", "alice")
    world.members.discard("acme")
    try:
        refused("unknown_member", lambda: auth.authenticate(bearer(token)))
    finally:
        world.members.add("acme")
