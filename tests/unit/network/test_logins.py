"""Tests of network.logins: people's login tokens, checked against the member CAs of a consortium, and of
that network.identity puts in a person's certificate.

Real org identities (``create_org_identity``), people issued by their CAs (``issue_identity(..., role=...)``), a
``consortium.json`` naming the members, CRLs signed by the CAs (``revoke_identity``). Bad tokens are built by
hand where PyJWT would refuse to build them (``alg: none``, HS256 keyed with the public key). Nothing of ours is
mocked; the clock is a settable one.

The consortium has members acme and globex (firms) and finreg (the regulator). Outside it: umbrella, a CA nobody
listed. The world, the clock and the claims are ``tests/support/people_world.py``'s, shared with
``test_sm2_people.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain.errors import MalformedError
from chain.ids import OrgId, Role
from network.certificates import CRL_CHECK_INTERVAL_S, CallerAuthenticator
from network.identity import (
    IdentityError,
    OrgPaths,
    certificate_role,
    issue_identity,
    load_gateway_key,
    load_user_key,
    load_witness_key,
    revoke_identity,
    user_paths,
)
from network.logins import (
    AUDIENCE,
    MAX_LIFETIME_S,
    ROLES,
    Authenticator,
    LoginError,
    Person,
    make_token,
)
from network.logsetup import explorer_reader, read_access
from notary.readauth import UnauthenticatedError, sign_read
from tests.support.clock import Clock as MonotonicClock
from tests.support.people_world import (
    NOW,
    Clock,
    PeopleWorld,
    b64url,
    bearer,
    claims,
    people_world,
    refused,
)

PASS = b"explorer-auth-passphrase"
MEMBERS: dict[str, tuple[str, Role]] = {
    "acme": ("ACME Securities", Role.MEMBER),
    "globex": ("Globex Capital", Role.MEMBER | Role.WITNESS),
    "finreg": ("Financial Regulator", Role.REGULATOR | Role.WITNESS),
}
World = PeopleWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    people = [
        ("acme", "alice", "compliance"),
        ("acme", "oscar", "operator"),
        ("acme", "carol", "compliance"),  # revoked by a test
        ("globex", "gina", "compliance"),
        ("finreg", "ivy", "regulator"),
    ]
    made = people_world(tmp_path_factory, MEMBERS, people, PASS)
    issue_identity(
        made.root, OrgId("acme"), "old", PASS, now=NOW, not_before=NOW - timedelta(days=400), days=30, role="operator"
    )
    return made


def x5c_of(cert_pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")


def signed(
    world: World,
    payload: dict[str, Any],
    *,
    org: str = "acme",
    name: str = "alice",
    key: ec.EllipticCurvePrivateKey | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    """An ES256 token with whatever claims and header the test needs, the certificate of NAME@ORG in x5c."""
    headers = {"x5c": [x5c_of(world.cert_pem(org, name))]} if header is None else header
    return jwt.encode(payload, key or world.key(org, name), algorithm="ES256", headers=headers)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: Callable[[bytes], bytes]) -> str:
    """A compact JWS assembled by hand: for what PyJWT would refuse to produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(signature(signing_input.encode('ascii')))}"


# ------------------------------------------------------------------------------------------ people's certificates


def test_role_is_a_title_in_the_subject_and_gateways_still_accept_it(world: World) -> None:
    cert = x509.load_pem_x509_certificate(world.cert_pem("acme", "alice"))
    assert cert.subject.rfc4514_string() == "CN=alice@acme,2.5.4.12=compliance,OU=acme,O=ACME Securities"
    assert certificate_role(cert) == "compliance"
    assert certificate_role(x509.load_pem_x509_certificate(world.cert_pem("finreg", "ivy"))) == "regulator"
    assert certificate_role(x509.load_pem_x509_certificate(world.cert_pem("acme", "bob"))) is None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["consortium://acme/alice"]
    gateway = CallerAuthenticator(world.description, world.root, lambda org: "active", clock=Clock())
    for org, name in [("acme", "alice"), ("acme", "oscar"), ("finreg", "ivy")]:
        der = x509.load_pem_x509_certificate(world.cert_pem(org, name)).public_bytes(serialization.Encoding.DER)
        caller = gateway.authenticate(der)
        assert caller.org == org and caller.identity == hashlib.sha256(der).hexdigest()


def test_a_callers_and_a_persons_identity_in_an_event_is_the_sha256_of_their_certificate_or_in_version_3_its_sm3(
    world: World,
) -> None:
    from tests.support.sm3_reference import sm3

    gateway = CallerAuthenticator(world.description, world.root, lambda org: "active", clock=Clock())
    der = x509.load_pem_x509_certificate(world.cert_pem("acme", "alice")).public_bytes(serialization.Encoding.DER)
    person = world.auth().authenticate(bearer(world.token("acme", "alice")))
    for found in (gateway.authenticate(der), person):
        assert found.identity_for(1) == found.identity_for(2) == found.identity == hashlib.sha256(der).hexdigest()
        assert found.identity_for(3) == found.identity_sm3 == sm3(der).hex()


def test_issuing_a_role_is_checked_before_anything_is_written(world: World) -> None:
    users = OrgPaths.of(world.root, OrgId("acme")).users_dir
    before = sorted(p.name for p in users.iterdir())
    with pytest.raises(IdentityError, match="only for a person of an org with the regulator role"):
        issue_identity(world.root, OrgId("acme"), "vera", PASS, role="regulator", org_roles=Role.MEMBER)
    with pytest.raises(IdentityError, match="roles were not given"):
        issue_identity(world.root, OrgId("acme"), "vera", PASS, role="regulator")
    with pytest.raises(MalformedError, match="invalid role 'admin'"):
        issue_identity(world.root, OrgId("acme"), "vera", PASS, role="admin")
    assert sorted(p.name for p in users.iterdir()) == before


# ------------------------------------------------------------------------------------------ success


def test_good_token(world: World) -> None:
    auth = world.auth()
    token = world.token("acme", "alice")
    person = auth.authenticate(bearer(token))
    der = x509.load_pem_x509_certificate(world.cert_pem("acme", "alice")).public_bytes(serialization.Encoding.DER)
    assert person == Person(
        org="acme",
        name="alice",
        role="compliance",
        identity=hashlib.sha256(der).hexdigest(),
        display_name="alice (ACME Securities)",
        expires_ms=int((NOW + timedelta(hours=8)).timestamp()) * 1000,
    )
    assert not person.is_regulator
    assert auth.authenticate(f"bearer   {token}  ") is person  # the scheme is case-insensitive; cached
    inspector = auth.authenticate(bearer(world.token("finreg", "ivy")))
    assert (inspector.role, inspector.is_regulator, inspector.display_name) == (
        "regulator",
        True,
        "ivy (Financial Regulator)",
    )
    assert auth.authenticate(bearer(world.token("acme", "oscar"))).role == "operator"
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["x5c"] == [base64.b64encode(der).decode()]
    body = jwt.decode(token, options={"verify_signature": False})
    assert body["aud"] == AUDIENCE and body["sub"] == "alice@acme"
    assert body["iat"] == body["nbf"] == int(NOW.timestamp()) and body["exp"] == body["iat"] + 8 * 3600
    assert (
        body["jti"]
        and body["jti"] != jwt.decode(world.token("acme", "alice"), options={"verify_signature": False})["jti"]
    )
    assert ROLES == ("compliance", "operator", "regulator")


def test_make_token_refusals(world: World) -> None:
    pem = world.cert_pem("acme", "alice")
    key = world.key("acme", "alice")
    for hours in (0, -1, 720.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="hours"):
            make_token(pem, key, hours=hours, now=NOW)
    assert make_token(pem, key, hours=720, now=NOW)  # 30 days exactly is allowed
    with pytest.raises(ValueError, match="not the key of certificate"):
        make_token(pem, ec.generate_private_key(ec.SECP256R1()), now=NOW)
    with pytest.raises(ValueError, match="P-256"):
        make_token(pem, ec.generate_private_key(ec.SECP384R1()), now=NOW)
    with pytest.raises(MalformedError):
        make_token(b"not a certificate", key, now=NOW)


# ------------------------------------------------------------------------------------------ refusals


def test_no_credentials(world: World) -> None:
    auth = world.auth()
    refused("no_credentials", lambda: auth.authenticate(None))
    refused("no_credentials", lambda: auth.authenticate(""))
    refused("no_credentials", lambda: auth.authenticate("Bearer"))
    refused("no_credentials", lambda: auth.authenticate("Bearer    "))
    token = world.token("acme", "alice")
    error = refused("no_credentials", lambda: auth.authenticate(f"Basic {token}"))  # not Bearer
    assert "'Basic'" in error.detail
    refused("no_credentials", lambda: auth.authenticate(token))  # the token without a scheme


def test_malformed_tokens(world: World) -> None:
    auth = world.auth()
    alice = world.cert_pem("acme", "alice")
    cases = {
        "garbage": "garbage",
        "three dots": "a.b.c",
        "too long": "x" * 9000,
        "no x5c": signed(world, claims(), header={}),
        "x5c not a list": signed(world, claims(), header={"x5c": x5c_of(alice)}),
        "two certificates": signed(world, claims(), header={"x5c": [x5c_of(alice), x5c_of(alice)]}),
        "x5c not base64": signed(world, claims(), header={"x5c": ["%%%not base64%%%"]}),
        "x5c not a certificate": signed(world, claims(), header={"x5c": [base64.b64encode(b"hello").decode()]}),
        "critical header": signed(world, claims(), header={"x5c": [x5c_of(alice)], "crit": ["exp"]}),
        "no jti": signed(world, claims(jti=None)),
        "no exp": signed(world, claims(exp=None)),
        "someone else's sub": signed(world, claims(sub="oscar@acme")),
        "exp before nbf": signed(world, claims(exp=int(NOW.timestamp()) - 10)),
        "exp a string": signed(world, claims(exp="tomorrow")),
    }
    for case, token in cases.items():
        error = refused("malformed_token", lambda token=token: auth.authenticate(bearer(token)))  # type: ignore[misc]
        assert error.detail, case


def test_alg_none_is_refused(world: World) -> None:
    auth = world.auth()
    header = {"alg": "none", "typ": "JWT", "x5c": [x5c_of(world.cert_pem("acme", "alice"))]}
    token = unsigned(header, claims(), lambda _signing_input: b"")
    assert token.endswith(".")
    error = refused("bad_signature", lambda: auth.authenticate(bearer(token)))
    assert "'none'" in error.detail
    # The same claims with a real signature are fine: it is the algorithm that is refused.
    assert auth.authenticate(bearer(signed(world, claims()))).name == "alice"


def test_hs256_keyed_with_the_public_key_is_refused(world: World) -> None:
    """The classic confusion: an HMAC 'signed' with the certificate's public key, which everybody has."""
    auth = world.auth()
    cert_pem = world.cert_pem("acme", "alice")
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    for secret in (
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        cert_pem,
    ):
        header = {"alg": "HS256", "typ": "JWT", "x5c": [x5c_of(cert_pem)]}
        token = unsigned(header, claims(), lambda data, secret=secret: hmac.new(secret, data, "sha256").digest())  # type: ignore[misc]
        error = refused("bad_signature", lambda token=token: auth.authenticate(bearer(token)))  # type: ignore[misc]
        assert "'HS256'" in error.detail
    key = world.key("acme", "alice")
    for alg in ("RS256", "ES384", "EdDSA", "es256"):  # any algorithm but ES256, whatever the signature
        header = {"alg": alg, "typ": "JWT", "x5c": [x5c_of(cert_pem)]}
        token = unsigned(header, claims(), lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())))
        refused("bad_signature", lambda token=token: auth.authenticate(bearer(token)))  # type: ignore[misc]


def test_signature_by_another_key_than_the_certificates(world: World) -> None:
    auth = world.auth()
    stranger = ec.generate_private_key(ec.SECP256R1())
    refused("bad_signature", lambda: auth.authenticate(bearer(signed(world, claims(), key=stranger))))
    # Oscar's key, Alice's certificate and name: Oscar cannot pass for Alice.
    refused("bad_signature", lambda: auth.authenticate(bearer(signed(world, claims(), key=world.key("acme", "oscar")))))
    # A token whose payload was changed after signing.
    token = world.token("acme", "alice")
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["exp"] += 86_400
    forged = f"{head}.{b64url(json.dumps(payload).encode())}.{signature}"
    refused("bad_signature", lambda: auth.authenticate(bearer(forged)))


def test_wrong_audience(world: World) -> None:
    auth = world.auth()
    refused("wrong_audience", lambda: auth.authenticate(bearer(signed(world, claims(aud="consortium-gateway")))))
    refused("wrong_audience", lambda: auth.authenticate(bearer(signed(world, claims(aud=None)))))
    refused("wrong_audience", lambda: auth.authenticate(bearer(signed(world, claims(aud=["someone-else"])))))
    assert auth.authenticate(bearer(signed(world, claims(aud=[AUDIENCE, "other"])))).name == "alice"


def test_expired_token(world: World) -> None:
    clock = Clock()
    auth = world.auth(clock)
    token = world.token("acme", "alice", hours=1)
    person = auth.authenticate(bearer(token))  # valid, and now cached
    clock.now = NOW + timedelta(hours=1)
    error = refused("credentials_expired", lambda: auth.authenticate(bearer(token)))  # the cache honours exp
    assert "expired at" in error.detail
    clock.now = NOW + timedelta(minutes=59, seconds=59)
    assert auth.authenticate(bearer(token)) is person
    old = world.token("acme", "alice", now=NOW - timedelta(days=2), hours=24)
    refused("credentials_expired", lambda: auth.authenticate(bearer(old)))


def test_token_not_yet_valid(world: World) -> None:
    clock = Clock(NOW)
    auth = world.auth(clock)
    later = world.token("acme", "alice", now=NOW + timedelta(hours=1))
    refused("token_not_yet_valid", lambda: auth.authenticate(bearer(later)))
    clock.now = NOW + timedelta(minutes=59)  # within a minute of nbf: clock skew is allowed
    assert auth.authenticate(bearer(later)).name == "alice"
    skewed = world.token("acme", "alice", now=NOW + timedelta(seconds=30))
    clock.now = NOW
    assert auth.authenticate(bearer(skewed)).name == "alice"


def test_lifetime_over_30_days(world: World) -> None:
    auth = world.auth()
    issued = int(NOW.timestamp())
    too_long = signed(world, claims(exp=issued + MAX_LIFETIME_S + 1))
    error = refused("lifetime_too_long", lambda: auth.authenticate(bearer(too_long)))
    assert "at most 30" in error.detail
    early_iat = signed(world, claims(iat=issued - 86_400, exp=issued + MAX_LIFETIME_S))  # iat counts too
    refused("lifetime_too_long", lambda: auth.authenticate(bearer(early_iat)))
    assert auth.authenticate(bearer(world.token("acme", "alice", hours=720))).name == "alice"


def test_certificate_expired(world: World) -> None:
    auth = world.auth()
    token = world.token("acme", "old")  # the certificate ended 370 days ago; the token is fresh
    error = refused("certificate_expired", lambda: auth.authenticate(bearer(token)))
    assert "CN=old@acme" in error.detail
    far = Clock(NOW + timedelta(days=366))  # alice's certificate (1 year) is over, her 30-day token is not
    token = world.token("acme", "alice", now=NOW + timedelta(days=365), hours=720)
    refused("certificate_expired", lambda: world.auth(far).authenticate(bearer(token)))


def test_certificate_revoked(world: World) -> None:
    crl_clock = MonotonicClock()
    auth = world.auth(crl_clock=crl_clock)
    token = world.token("acme", "carol")
    assert auth.authenticate(bearer(token)).name == "carol"  # cached from now on
    revoke_identity(world.root, OrgId("acme"), world.cert_pem("acme", "carol"), PASS)
    crl_clock.now += CRL_CHECK_INTERVAL_S - 0.001
    assert auth.authenticate(bearer(token)).name == "carol"  # the CRL was looked at less than an interval ago
    crl_clock.now += 0.001
    with pytest.raises(LoginError) as raised:  # an interval on, it is looked at again
        auth.authenticate(bearer(token))
    reason, detail = raised.value.reason, raised.value.detail
    assert reason == "certificate_revoked", detail
    error = refused("certificate_revoked", lambda: world.auth().authenticate(bearer(world.token("acme", "carol"))))
    assert "CN=carol@acme" in error.detail
    assert auth.authenticate(bearer(world.token("acme", "alice"))).name == "alice"  # only carol


def test_certificate_from_a_foreign_ca(world: World) -> None:
    auth = world.auth()
    token = world.token("umbrella", "zed", root=world.outside)  # a well-made token, a CA nobody listed
    error = refused("unknown_issuer", lambda: auth.authenticate(bearer(token)))
    assert "not the CA of any member" in error.detail


def test_ca_certificate_is_not_an_identity(world: World) -> None:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), PASS)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    token = jwt.encode(
        claims(sub="ca.acme"), ca_key, algorithm="ES256", headers={"x5c": [x5c_of(paths.ca_cert.read_bytes())]}
    )
    refused("not_an_identity", lambda: world.auth().authenticate(bearer(token)))


def test_certificate_without_role(world: World) -> None:
    auth = world.auth()
    error = refused("no_role", lambda: auth.authenticate(bearer(world.token("acme", "bob"))))
    assert "carries no role" in error.detail
    admin = user_paths(world.root, OrgId("acme"), "Admin")
    admin_key = load_user_key(world.root, OrgId("acme"), "Admin", PASS)
    token = make_token(admin.cert.read_bytes(), admin_key, now=NOW)
    refused("no_role", lambda: auth.authenticate(bearer(token)))


def test_regulator_role_from_a_non_regulator_org(world: World) -> None:
    auth = world.auth()
    error = refused("no_role", lambda: auth.authenticate(bearer(world.token("acme", "rex"))))
    assert "'regulator'" in error.detail and "'acme' is not a regulator" in error.detail
    assert auth.authenticate(bearer(world.token("finreg", "ivy"))).is_regulator


def test_unknown_member(world: World) -> None:
    auth = world.auth()
    token = world.token("globex", "gina")
    assert auth.authenticate(bearer(token)).org == "globex"
    world.members.discard("globex")
    try:
        refused("unknown_member", lambda: auth.authenticate(bearer(token)))
    finally:
        world.members.add("globex")
    assert auth.authenticate(bearer(token)).org == "globex"


def test_consortium_json_is_required(tmp_path: Path) -> None:
    with pytest.raises(MalformedError, match=r"consortium\.json"):
        Authenticator(tmp_path, regulator_orgs=())
    with pytest.raises(ValueError, match="cache_size"):
        Authenticator(tmp_path, regulator_orgs=(), cache_size=0)


# ------------------------------------------------------------------------------------------ cache


def test_cache_is_bounded_and_remembers_failures(world: World) -> None:
    auth = world.auth(cache_size=2)
    first = world.token("acme", "alice")
    person = auth.authenticate(bearer(first))
    assert auth.authenticate(bearer(first)) is person
    refused("bad_signature", lambda: auth.authenticate(bearer(signed(world, claims(), key=world.key("acme", "oscar")))))
    refused("no_role", lambda: auth.authenticate(bearer(world.token("acme", "bob"))))
    assert len(auth) == 2  # alice's token went first
    again = auth.authenticate(bearer(first))
    assert again == person and again is not person


@pytest.mark.benchmark
def test_cost_cached_and_uncached(world: World) -> None:
    auth = world.auth()
    header = bearer(world.token("acme", "alice"))
    auth.authenticate(header)
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        auth.authenticate(header)
    cached = (time.perf_counter() - started) / n
    tokens = [bearer(world.token("acme", "alice")) for _ in range(200)]
    started = time.perf_counter()
    for token in tokens:
        auth.authenticate(token)
    uncached = (time.perf_counter() - started) / len(tokens)
    fresh = world.auth()
    started = time.perf_counter()
    fresh.authenticate(header)
    first = time.perf_counter() - started
    print(
        f"\nauthenticate: cached {cached * 1e6:.2f} µs/call; a new token {uncached * 1e6:.0f} µs"
        f" (certificate already checked); first call of a new authenticator {first * 1e6:.0f} µs"
    )
    assert cached < 50e-6


# -- the notary's readers (network.logsetup.read_access) -----------------------------------------------------


def test_the_notary_reads_people_by_their_login_tokens_and_services_by_their_keys(world: World) -> None:
    at = Clock()().timestamp()  # the world's clock, not the wall clock
    access = read_access(world.root, world.description, clock=lambda: at)
    alice = access.authenticate("GET", "/", {"Authorization": f"Bearer {world.token('acme', 'alice')}"})
    assert (alice.org, alice.regulator, alice.trusted) == ("acme", False, False)
    ivy = access.authenticate("GET", "/", {"Authorization": f"Bearer {world.token('finreg', 'ivy')}"})
    assert (ivy.org, ivy.regulator) == ("finreg", True)
    with pytest.raises(UnauthenticatedError, match="login refused"):
        access.authenticate("GET", "/", {"Authorization": f"Bearer {world.token('acme', 'alice')[:-4]}AAAA"})
    gateway = load_gateway_key(world.root, OrgId("globex"), PASS)
    service = access.authenticate("GET", "/tile/0/000", sign_read("globex/gw-1", gateway, "GET", "/tile/0/000", at))
    assert (service.org, service.regulator) == ("globex", False)
    witness = load_witness_key(world.root, OrgId("finreg"), PASS)
    found = access.authenticate("GET", "/checkpoint", sign_read("finreg/witness", witness, "GET", "/checkpoint", at))
    assert (found.org, found.regulator) == ("finreg", True)
    with pytest.raises(UnauthenticatedError, match="no witness key"):  # acme has no witness role
        access.authenticate("GET", "/", sign_read("acme/witness", gateway, "GET", "/", at))
    assert explorer_reader(world.description) is None  # no operator in this consortium: no trusted reader
