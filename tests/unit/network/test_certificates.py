"""Tests of network.certificates: callers' identity certificates against the member CAs of a consortium.

Real org identities (``create_org_identity``), certificates issued by their CAs (``issue_identity``), CRLs
signed by them (``revoke_identity``), in process; the real TLS handshakes are in
``tests/integration/network/test_certificates_tls.py``. Nothing of ours is mocked.

The consortium has members acme, globex and initech. Outside it: umbrella (a CA nobody listed) and a second
"acme" created elsewhere, whose CA has the very subject of the real acme's CA but another key (a forger).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import ssl
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from chain.ids import OrgId
from network.certificates import (
    REASONS,
    X509_V_FLAG_NO_CHECK_TIME,
    AuthError,
    Caller,
    CallerAuthenticator,
    ca_bundle_pem,
)
from network.identity import CertificateError, IdentityError, OrgPaths, PassphraseError, load_crl, revoke_identity
from tests.support.clock import Clock
from tests.support.member_pki import MEMBERS, NOW, PASS, World, build_world, ca_of, craft, der_to_pem, pem_to_der


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("consortium"), tmp_path_factory.mktemp("outside"))


@pytest.fixture(params=["der", "pem"])
def present(request: pytest.FixtureRequest) -> Callable[[CallerAuthenticator, bytes], Caller]:
    """Authenticate a certificate the way the gateway gets it: TLS peer DER, or nginx's PEM header."""
    if request.param == "der":
        return lambda auth, der: auth.authenticate(der)
    return lambda auth, der: auth.authenticate_pem(der_to_pem(der))


def refused(reason: str, call: Callable[[], object]) -> AuthError:
    assert reason in REASONS
    with pytest.raises(AuthError) as info:
        call()
    assert info.value.reason == reason, info.value
    assert info.value.detail
    return info.value


# ------------------------------------------------------------------------------------------ success


def test_valid_identity_authenticates(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    der = world.der("acme", "alice")
    caller = present(world.auth(), der)
    cert = x509.load_der_x509_certificate(der)
    assert caller == Caller(
        org="acme",
        identity=hashlib.sha256(der).hexdigest(),
        subject="CN=alice@acme,OU=acme,O=ACME Securities",
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )
    assert len(caller.identity) == 64 and caller.identity == caller.identity.lower()
    bob = present(world.auth(), world.der("globex", "bob"))
    assert (bob.org, bob.subject) == ("globex", "CN=bob@globex,OU=globex,O=Globex Capital")


def test_admin_certificate_is_an_identity_too(world: World) -> None:
    admin = pem_to_der(OrgPaths.of(world.root, OrgId("globex")).admin_cert.read_bytes())
    assert world.auth().authenticate(admin).org == "globex"


# ------------------------------------------------------------------------------------------ each refusal


def test_no_certificate(world: World) -> None:
    auth = world.auth()
    refused("no_certificate", lambda: auth.authenticate(None))
    refused("no_certificate", lambda: auth.authenticate(b""))
    refused("no_certificate", lambda: auth.authenticate_pem(None))
    refused("no_certificate", lambda: auth.authenticate_pem(""))
    refused("no_certificate", lambda: auth.authenticate_pem(" \n\t"))


def test_malformed_certificate(world: World) -> None:
    auth = world.auth()
    der = world.der("acme", "alice")
    for bad in [b"garbage", der[:-20], b"\x30\x03\x02\x01\x01", b"\x30" + der[1:40], b"\x00" * 70_000]:
        refused("malformed_certificate", lambda bad=bad: auth.authenticate(bad))  # type: ignore[misc]
    pem = der_to_pem(der)
    for bad_pem in [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        pem + pem,  # two certificates
        pem.replace("CERTIFICATE", "PUBLIC KEY"),
        "-----BEGIN CERTIFICATE-----\nüñí\n-----END CERTIFICATE-----\n",
    ]:
        refused("malformed_certificate", lambda p=bad_pem: auth.authenticate_pem(p))  # type: ignore[misc]


def test_pem_with_nginx_indentation_is_accepted(world: World) -> None:
    pem = world.cert("acme", "alice").read_text()
    indented = pem.replace("\n", "\n\t").rstrip("\t")  # $ssl_client_cert style: lines after the first indented
    assert world.auth().authenticate_pem(indented).org == "acme"


def test_unknown_issuer_not_a_member(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    error = refused("unknown_issuer", lambda: present(world.auth(), world.der("umbrella", "zed", world.outside)))
    assert "CN=ca.umbrella" in error.detail and "not the CA of any member" in error.detail


def test_unknown_issuer_forged_signature(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    forged = world.der("acme", "mallory", world.outside)
    real_ca, _ = ca_of(world.root, "acme")
    assert x509.load_der_x509_certificate(forged).issuer == real_ca.subject  # the forger copied the CA's name
    error = refused("unknown_issuer", lambda: present(world.auth(), forged))
    assert "does not verify" in error.detail


def test_unknown_issuer_certificate_claiming_another_org(
    world: World, present: Callable[[CallerAuthenticator, bytes], Caller]
) -> None:
    # Issued (and correctly signed) by acme's CA, but with OU=globex: acme cannot speak for globex.
    claiming = craft(world.root, "acme", ou="globex", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    error = refused("unknown_issuer", lambda: present(world.auth(), claiming))
    assert "claims org globex" in error.detail and "CA of org acme" in error.detail
    genuine = craft(world.root, "acme", ou="acme", eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert present(world.auth(), genuine).org == "acme"  # the same recipe with the right OU passes


def test_not_an_identity(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    auth = world.auth()
    ca_der = pem_to_der(OrgPaths.of(world.root, OrgId("acme")).ca_cert.read_bytes())
    assert "CA certificate" in refused("not_an_identity", lambda: present(auth, ca_der)).detail
    server = pem_to_der(OrgPaths.of(world.root, OrgId("acme")).gateway_tls_cert.read_bytes())
    assert "clientAuth" in refused("not_an_identity", lambda: present(auth, server)).detail
    no_eku = craft(world.root, "acme", ou="acme", eku=None)
    refused("not_an_identity", lambda: present(auth, no_eku))
    signer = craft(world.root, "acme", ou="acme", eku=[ExtendedKeyUsageOID.CLIENT_AUTH], key_cert_sign=True)
    refused("not_an_identity", lambda: present(auth, signer))
    sub_ca = craft(world.root, "acme", ou="acme", eku=[ExtendedKeyUsageOID.CLIENT_AUTH], ca=True)
    refused("not_an_identity", lambda: present(auth, sub_ca))


def test_validity_period(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    auth = world.auth()
    old = refused("certificate_expired", lambda: present(auth, world.der("acme", "old")))
    assert "CN=old@acme" in old.detail and "expired at" in old.detail
    early = refused("certificate_not_yet_valid", lambda: present(auth, world.der("acme", "early")))
    assert "not valid before" in early.detail
    alice = world.der("acme", "alice")
    later = world.auth(clock=lambda: NOW + timedelta(days=366))
    refused("certificate_expired", lambda: present(later, alice))
    before = world.auth(clock=lambda: NOW - timedelta(days=1))
    refused("certificate_not_yet_valid", lambda: present(before, alice))
    naive = world.auth(clock=lambda: (NOW + timedelta(minutes=1)).replace(tzinfo=None))  # taken as UTC
    assert present(naive, alice).org == "acme"
    # The clock is read on every call, also for a cached certificate.
    moving = [NOW]
    auth = world.auth(clock=lambda: moving[0])
    assert present(auth, alice).org == "acme"
    moving[0] = NOW + timedelta(days=400)
    refused("certificate_expired", lambda: present(auth, alice))
    moving[0] = NOW + timedelta(days=10 * 366)
    ca_expired = refused("certificate_expired", lambda: present(auth, world.der("acme", "early")))
    assert "expired" in ca_expired.detail


@pytest.fixture(scope="module")
def carol_revoked(world: World) -> bytes:
    """Carol's certificate (DER), revoked in acme's CRL after an authenticator had accepted it."""
    carol = world.der("acme", "carol")
    auth = world.auth(crl_check_interval=0.0)
    assert auth.authenticate(carol).org == "acme"
    revoke_identity(world.root, OrgId("acme"), der_to_pem(carol), PASS)
    refused("certificate_revoked", lambda: auth.authenticate(carol))
    return carol


def test_revoked(world: World, present: Callable[[CallerAuthenticator, bytes], Caller], carol_revoked: bytes) -> None:
    auth = world.auth(crl_check_interval=0.0)
    error = refused("certificate_revoked", lambda: present(auth, carol_revoked))
    assert f"{x509.load_der_x509_certificate(carol_revoked).serial_number:#x}" in error.detail
    assert "revoked by org acme" in error.detail
    assert present(auth, world.der("acme", "alice")).org == "acme"  # the rest of acme is fine
    no_crls = CallerAuthenticator(world.description, None, world.status.get, clock=lambda: NOW)
    assert no_crls.authenticate(carol_revoked).org == "acme"  # without a directory there are no CRLs


def test_unknown_member_and_suspended(world: World, present: Callable[[CallerAuthenticator, bytes], Caller]) -> None:
    status: dict[str, str] = {"acme": "active", "globex": "suspended"}
    auth = CallerAuthenticator(world.description, world.root, status.get, clock=lambda: NOW)
    assert present(auth, world.der("globex", "bob")).org == "globex"  # suspended members authenticate
    error = refused("unknown_member", lambda: present(auth, world.der("initech", "erin")))
    assert "initech" in error.detail
    del status["globex"]  # removed on chain: takes effect at once, cached certificate or not
    refused("unknown_member", lambda: present(auth, world.der("globex", "bob")))
    status["globex"] = "active"
    assert present(auth, world.der("globex", "bob")).org == "globex"


def test_reasons_are_checked_in_order(world: World, carol_revoked: bytes) -> None:
    status: dict[str, str] = {}  # nobody is a member
    auth = CallerAuthenticator(world.description, world.root, status.get, clock=lambda: NOW)
    refused("certificate_expired", lambda: auth.authenticate(world.der("acme", "old")))  # before unknown_member
    carol = carol_revoked
    refused("certificate_revoked", lambda: auth.authenticate(carol))  # before unknown_member
    refused("unknown_member", lambda: auth.authenticate(world.der("acme", "alice")))
    later = CallerAuthenticator(world.description, world.root, status.get, clock=lambda: NOW + timedelta(days=999))
    refused("certificate_expired", lambda: later.authenticate(carol))  # expiry before revocation
    ca_der = pem_to_der(OrgPaths.of(world.root, OrgId("acme")).ca_cert.read_bytes())
    refused("not_an_identity", lambda: later.authenticate(ca_der))  # before the time checks


# ------------------------------------------------------------------------------------------ CRLs


def test_crl_reloaded_within_a_second_of_a_revocation(world: World) -> None:
    clock = Clock()
    auth = world.auth(crl_clock=clock)  # the default interval: look at the CRL file at most once a second
    dave = world.der("acme", "dave")
    looked = clock.now
    assert auth.authenticate(dave).org == "acme"  # the first call looks at the CRL file
    revoke_identity(world.root, OrgId("acme"), der_to_pem(dave), PASS)
    clock.now = looked + 0.999  # the last look was under a second ago: not looked at again yet
    assert auth.authenticate(dave).org == "acme"
    clock.now = looked + 1.0  # a second after the last look: the revocation is seen
    refused("certificate_revoked", lambda: auth.authenticate(dave))


def test_tampered_crl_fails_closed_and_recovers(world: World, carol_revoked: bytes) -> None:
    initech = OrgId("initech")
    auth = world.auth(crl_check_interval=0.0)
    erin, frank = world.der("initech", "erin"), world.der("initech", "frank")
    path = revoke_identity(world.root, initech, der_to_pem(frank), PASS)
    good = path.read_bytes()
    try:
        assert auth.authenticate(erin).org == "initech"
        refused("certificate_revoked", lambda: auth.authenticate(frank))

        der = bytearray(x509.load_pem_x509_crl(good).public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0x01  # a bit of the signature
        path.write_bytes(x509.load_der_x509_crl(bytes(der)).public_bytes(serialization.Encoding.PEM))
        with pytest.raises(CertificateError, match="does not verify"):
            load_crl(world.root, initech)
        error = refused("certificate_revoked", lambda: auth.authenticate(erin))  # fail closed
        assert "cannot be checked" in error.detail and "does not verify" in error.detail
        refused("certificate_revoked", lambda: auth.authenticate(frank))
        assert auth.authenticate(world.der("acme", "alice")).org == "acme"  # other orgs unaffected

        # A list without frank, "signed" with another key under initech's CA name: refused as well.
        ca_cert, _ = ca_of(world.root, "initech")
        forged = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(NOW)
            .next_update(NOW + timedelta(days=1))
            .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        )
        path.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
        refused("certificate_revoked", lambda: auth.authenticate(frank))
        refused("certificate_revoked", lambda: auth.authenticate(erin))

        path.write_bytes(b"not a CRL\n")
        assert "not a PEM-encoded X.509 CRL" in refused("certificate_revoked", lambda: auth.authenticate(erin)).detail

        # A CRL signed by the CA of another member is not initech's.
        other = world.root / "other-crl.pem"
        shutil.copyfile(OrgPaths.of(world.root, OrgId("acme")).crl, other)
        other.replace(path)
        refused("certificate_revoked", lambda: auth.authenticate(erin))
    finally:
        path.write_bytes(good)
    assert auth.authenticate(erin).org == "initech"  # a valid list again: back to normal
    refused("certificate_revoked", lambda: auth.authenticate(frank))


# ------------------------------------------------------------------------------------------ cache


def test_cache_is_bounded_and_remembers_outcomes(world: World) -> None:
    auth = world.auth(cache_size=2)
    alice, bob, dave_old = world.der("acme", "alice"), world.der("globex", "bob"), world.der("acme", "old")
    first = auth.authenticate(alice)
    assert auth.authenticate(bytes(alice)) is first  # from the cache: the same object
    auth.authenticate(bob)
    refused("certificate_expired", lambda: auth.authenticate(dave_old))
    assert len(auth._state.cache) == 2  # alice evicted
    again = auth.authenticate(alice)  # verified again, same answer
    assert again == first and again is not first
    for bad in (b"junk-1", b"junk-2", b"junk-3"):
        refused("malformed_certificate", lambda bad=bad: auth.authenticate(bad))  # type: ignore[misc]
    assert len(auth._state.cache) == 2
    with pytest.raises(ValueError, match="cache_size"):
        world.auth(cache_size=0)


@pytest.mark.benchmark
def test_cached_cost_per_call(world: World) -> None:
    auth = world.auth()
    der, pem = world.der("acme", "alice"), world.cert("acme", "alice").read_text()
    auth.authenticate(der)
    auth.authenticate_pem(pem)
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        auth.authenticate(der)
    per_der = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        auth.authenticate_pem(pem)
    per_pem = (time.perf_counter() - started) / n
    fresh = world.auth()
    started = time.perf_counter()
    fresh.authenticate(der)
    first = time.perf_counter() - started
    print(
        f"\ncached authenticate: {per_der * 1e6:.2f} µs/call (DER), {per_pem * 1e6:.2f} µs/call (PEM);"
        f" first call {first * 1e6:.0f} µs"
    )
    assert per_der < 50e-6 and per_pem < 50e-6


# ------------------------------------------------------------------------------------------ bundle and context


def test_ca_bundle_lists_every_member_ca_in_order(world: World) -> None:
    bundle = ca_bundle_pem(world.description)
    certs = x509.load_pem_x509_certificates(bundle.encode())
    assert [c.subject.rfc4514_string() for c in certs] == [
        "CN=ca.acme,OU=acme,O=ACME Securities",
        "CN=ca.globex,OU=globex,O=Globex Capital",
        "CN=ca.initech,OU=initech,O=Initech Trading",
    ]
    for org, cert in zip(MEMBERS, certs, strict=True):
        assert (
            cert.public_bytes(serialization.Encoding.PEM).decode() == world.description.member(org).identity.ca_cert_pem
        )


def test_server_context_settings(world: World) -> None:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    ctx = world.auth().server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, PASS)
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_flags & X509_V_FLAG_NO_CHECK_TIME
    trusted = sorted(x509.load_der_x509_certificate(d).subject.rfc4514_string() for d in ctx.get_ca_certs(True))
    assert trusted == [
        "CN=ca.acme,OU=acme,O=ACME Securities",
        "CN=ca.globex,OU=globex,O=Globex Capital",
        "CN=ca.initech,OU=initech,O=Initech Trading",
    ]  # the members' CAs and nothing else


def test_server_context_refusals(world: World, tmp_path: Path) -> None:
    paths = OrgPaths.of(world.root, OrgId("acme"))
    auth = world.auth()
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        auth.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, b"wrong-passphrase")
    with pytest.raises(PassphraseError, match="no passphrase"):
        auth.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, None)
    with pytest.raises(IdentityError, match="cannot read"):
        auth.server_ssl_context(tmp_path / "missing.pem", paths.gateway_tls_key, PASS)
    with pytest.raises(IdentityError, match="cannot use"):  # alice's key is not the server certificate's
        auth.server_ssl_context(paths.gateway_tls_cert, world.key("acme", "alice"), PASS)
    nobody = CallerAuthenticator(dataclasses.replace(world.description, members=()), None, world.status.get)
    with pytest.raises(IdentityError, match="no member CA"):
        nobody.server_ssl_context(paths.gateway_tls_cert, paths.gateway_tls_key, PASS)
