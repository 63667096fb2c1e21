"""SM2 client certificates forwarded by a TLCP terminator (``network.sm2callers`` through
``CallerAuthenticator.authenticate_pem``, the auth mode's path): every refusal with its reason, the cache, the SM2
CRL reread after a change, the validity at the authenticator's clock, and the event's SM3 caller identity.

Real org identities of an ``sm`` consortium (``create_org_identity(crypto="sm")``: a P-256 CA and an SM2 identity
CA each), SM2 certificates issued by their SM2 CAs (``issue_sm2_identity``, or ``suite.x509.issue`` for what the
commands never issue), in process; the clocks are the tests'. Members acme and globex; outside: umbrella, and a
second "acme" whose SM2 CA has the real one's subject but another key (a forger)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from chain.ids import OrgId, Role
from network.certificates import SM2_WITH_SM3_OID, AuthError, Caller, CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import (
    IdentityError,
    OrgPaths,
    create_org_identity,
    load_org_public,
    load_sm2_ca_key,
    revoke_identity,
)
from network.sm2callers import issue_sm2_identity, sm2_paths
from notary.event import caller_identity
from suite.sm2 import SM2PrivateKey
from suite.x509 import CRL, OID_SM2_WITH_SM3, Certificate, Name, issue, issue_crl
from tests.support.clock import Clock
from tests.support.member_directory import write_description

PASS = b"sm2 callers passphrase"
CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the CAs
ISSUED = CREATED + timedelta(days=1)  # the callers' certificates, valid a year from here
NOW = ISSUED + timedelta(days=10)  # the authenticator's clock, unless a test moves it
MEMBERS = {"acme": "ACME Securities", "globex": "Globex Capital"}


@dataclass
class SmWorld:
    root: Path
    outside: Path
    description: ConsortiumDescription
    status: dict[str, str] = field(default_factory=lambda: {"acme": "active", "globex": "active"})

    def pem(self, org: str, name: str, root: Path | None = None) -> str:
        return sm2_paths(root or self.root, OrgId(org), name).cert.read_text()

    def der(self, org: str, name: str, root: Path | None = None) -> bytes:
        return Certificate.from_pem(self.pem(org, name, root).encode()).der

    def auth(self, clock: Callable[[], datetime] | None = None, **kwargs: object) -> CallerAuthenticator:
        return CallerAuthenticator(
            self.description,
            self.root,
            self.status.get,
            clock=clock or (lambda: NOW),
            **kwargs,  # type: ignore[arg-type]
        )


def description(root: Path, crypto: str, orgs: dict[str, str]) -> ConsortiumDescription:
    return ConsortiumDescription(
        name="sm2 auth test",
        chain_id=1,
        chain_kind="local",
        chain_url="http://127.0.0.1:9",
        contracts={},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={},
        members=tuple(
            MemberDescription(OrgId(org), name, Role.MEMBER, load_org_public(root, OrgId(org)))
            for org, name in orgs.items()
        ),
        crypto=crypto,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SmWorld:
    root, outside = tmp_path_factory.mktemp("sm"), tmp_path_factory.mktemp("outside")
    for org, name in MEMBERS.items():
        create_org_identity(root, OrgId(org), name, PASS, CREATED, crypto="sm")
    create_org_identity(outside, OrgId("umbrella"), "Umbrella Corp", PASS, CREATED, crypto="sm")
    create_org_identity(outside, OrgId("acme"), MEMBERS["acme"], PASS, CREATED, crypto="sm")  # a forger's
    # each directory's consortium.json lists its SM2 CAs: what issue_sm2_identity asks of an org's CA
    write_description(root, {org: (name, Role.MEMBER) for org, name in MEMBERS.items()}, crypto="sm")
    write_description(outside, {"umbrella": ("Umbrella Corp", Role.MEMBER), "acme": (MEMBERS["acme"], Role.MEMBER)},
                      crypto="sm")  # fmt: skip
    for org, name in [("acme", "alice"), ("acme", "carol"), ("acme", "dave"), ("acme", "frank"), ("globex", "bob")]:
        issue_sm2_identity(root, OrgId(org), name, PASS, now=ISSUED)
    issue_sm2_identity(outside, OrgId("umbrella"), "zed", PASS, now=ISSUED)
    issue_sm2_identity(outside, OrgId("acme"), "mallory", PASS, now=ISSUED)
    return SmWorld(root, outside, description(root, "sm", MEMBERS))


def refused(reason: str, call: Callable[[], object]) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    assert info.value.reason == reason, info.value
    assert info.value.detail
    return info.value


def crafted(world: SmWorld, org: str, *, usage: str = "client", ou: str | None = None, days: int = 30) -> str:
    """A certificate the SM2 CA of ``org`` signs with what the test needs (what the commands never issue); PEM."""
    ca = Certificate.from_pem(OrgPaths.of(world.root, OrgId(org)).sm2_ca_cert.read_bytes())
    key = SM2PrivateKey.generate()
    name = Name(f"crafted@{ou or org}", organization="Crafted", organizational_unit=ou or org)
    der = issue(
        name,
        key.public_key(),
        ca.der,
        load_sm2_ca_key(world.root, OrgId(org), PASS),
        ISSUED,
        ISSUED + timedelta(days=days),
        usage=usage,  # type: ignore[arg-type]
    )
    return Certificate.from_der(der).to_pem().decode()


# ------------------------------------------------------------------------------------------ success


def test_an_sm2_certificate_in_the_header_authenticates_with_its_sm3_identity(world: SmWorld) -> None:
    auth = world.auth()
    pem, der = world.pem("acme", "alice"), world.der("acme", "alice")
    caller = auth.authenticate_pem(pem)
    assert (caller.org, caller.subject) == ("acme", "CN=alice@acme,OU=acme,O=ACME Securities")
    assert caller.serial == Certificate.from_der(der).serial
    # the event's caller_identity: SM3 of the DER in version 3 (sm), SHA-256 in versions 1 and 2
    assert caller.identity_for(3) == hashlib.new("sm3", der).hexdigest() == caller_identity(der, 3)
    assert caller.identity_for(2) == hashlib.sha256(der).hexdigest()
    # nginx's $ssl_client_escaped_cert, URL-decoded, may come with its lines indented ($ssl_client_cert's form)
    indented = "\n".join("\t" + line for line in pem.splitlines())
    assert auth.authenticate_pem(indented) == caller
    assert auth.admit_pem(pem) == caller
    assert auth.authenticate_pem(world.pem("globex", "bob")).org == "globex"
    # the OID the authenticator looks for without loading suite.x509 is the suite's
    assert SM2_WITH_SM3_OID == OID_SM2_WITH_SM3


def test_the_sm2_cas_come_from_consortium_json(world: SmWorld) -> None:
    listed = {m.org: m.identity.sm2_ca_cert_pem for m in world.description.members}
    assert all(pem and "BEGIN CERTIFICATE" in pem for pem in listed.values())
    # another CA file beside the member's does not count: given other CAs, acme's certificates are unknown
    other = load_org_public(world.outside, OrgId("umbrella")).sm2_ca_cert_pem
    auth = world.auth(sm2_cas={"acme": None, "globex": other})
    refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("acme", "alice")))


# ------------------------------------------------------------------------------------------ refusals


def test_malformed(world: SmWorld) -> None:
    auth = world.auth()
    pem = world.pem("acme", "alice")
    refused("no_certificate", lambda: auth.authenticate_pem(""))
    refused("malformed_certificate", lambda: auth.authenticate_pem(pem.replace("MII", "MIJ", 1)))
    refused("malformed_certificate", lambda: auth.authenticate_pem(pem + pem))  # two certificates
    # parsed as X.509 by the authenticator, but outside the SM2 profile: a P-256 key under an SM2-with-SM3 signature
    from asn1crypto import keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = asn1_x509.Certificate.load(world.der("acme", "alice"))
    tbs = cert["tbs_certificate"]
    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    tbs["subject_public_key_info"] = keys.PublicKeyInfo.load(spki)
    ca_key = load_sm2_ca_key(world.root, OrgId("acme"), PASS)
    der = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": cert["signature_algorithm"],
            "signature_value": ca_key.sign_der(tbs.dump(force=True)),
        }
    ).dump(force=True)
    assert x509.load_der_x509_certificate(der).signature_algorithm_oid.dotted_string == SM2_WITH_SM3_OID
    error = refused("malformed_certificate", lambda: auth.authenticate(der))
    assert "not an SM2 key" in error.detail


def test_unknown_issuer(world: SmWorld) -> None:
    auth = world.auth()
    # an SM2 CA no member listed
    error = refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("umbrella", "zed", world.outside)))
    assert "claims org 'umbrella', which has no SM2 identity CA in consortium.json" in error.detail
    # one naming a member, issued by a CA that is no member's
    stranger = Certificate.from_pem(OrgPaths.of(world.outside, OrgId("umbrella")).sm2_ca_cert.read_bytes())
    der = issue(
        Name("zed@acme", organization="Umbrella Corp", organizational_unit="acme"),
        SM2PrivateKey.generate().public_key(),
        stranger.der,
        load_sm2_ca_key(world.outside, OrgId("umbrella"), PASS),
        ISSUED,
        ISSUED + timedelta(days=30),
        usage="client",
    )
    error = refused("unknown_issuer", lambda: auth.authenticate(der))
    assert "which is not the SM2 identity CA of any member" in error.detail
    # the forger's CA: the very subject of acme's SM2 CA, another key
    error = refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("acme", "mallory", world.outside)))
    assert "to the SM2 CA of org acme fails" in error.detail and "has no issuer" in error.detail  # another key id
    # acme's own certificate with another signature (r + 1): the key identifiers match, the signature does not
    from asn1crypto import algos
    from asn1crypto import x509 as asn1_x509

    cert = asn1_x509.Certificate.load(world.der("acme", "carol"))
    r, s = algos.DSASignature.load(cert["signature_value"].native).native.values()
    cert["signature_value"] = algos.DSASignature({"r": r + 1, "s": s}).dump()
    error = refused("unknown_issuer", lambda: auth.authenticate(cert.dump(force=True)))
    assert "signature that does not verify" in error.detail
    # issued by acme's SM2 CA, claiming to be of globex
    error = refused("unknown_issuer", lambda: auth.authenticate_pem(crafted(world, "acme", ou="globex")))
    assert "claims org globex" in error.detail


def test_unknown_issuer_in_an_intl_consortium_or_a_member_without_an_sm2_ca(
    world: SmWorld, tmp_path_factory: pytest.TempPathFactory
) -> None:
    intl = tmp_path_factory.mktemp("intl")
    create_org_identity(intl, OrgId("acme"), MEMBERS["acme"], PASS, CREATED, crypto="intl")
    auth = CallerAuthenticator(description(intl, "intl", {"acme": MEMBERS["acme"]}), intl, {"acme": "active"}.get)
    error = refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("acme", "alice")))
    assert "SM2 certificate (SM2-with-SM3), but this consortium runs the 'intl' suite" in error.detail
    with pytest.raises(IdentityError, match="has no SM2 identity CA"):  # nor does it issue one
        issue_sm2_identity(intl, OrgId("acme"), "alice", PASS, now=ISSUED)
    assert not sm2_paths(intl, OrgId("acme"), "alice").key.exists()
    # an sm member listed without an SM2 CA (created before there was one)
    auth = world.auth(sm2_cas={"acme": None, "globex": world.description.members[1].identity.sm2_ca_cert_pem})
    refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("acme", "alice")))
    assert auth.authenticate_pem(world.pem("globex", "bob")).org == "globex"


def test_not_an_identity(world: SmWorld) -> None:
    auth = world.auth()
    ca = OrgPaths.of(world.root, OrgId("acme")).sm2_ca_cert.read_text()
    assert "CA certificate" in refused("not_an_identity", lambda: auth.authenticate_pem(ca)).detail
    intermediate = crafted(world, "acme", usage="ca")
    assert "CA certificate" in refused("not_an_identity", lambda: auth.authenticate_pem(intermediate)).detail
    for usage in ("server", "signing"):
        crafted_pem = crafted(world, "acme", usage=usage)
        error = refused("not_an_identity", lambda: auth.authenticate_pem(crafted_pem))  # noqa: B023 (called at once)
        assert "no clientAuth" in error.detail


def test_validity_at_the_authenticators_clock(world: SmWorld) -> None:
    now = [NOW]
    auth = world.auth(clock=lambda: now[0])
    pem = world.pem("acme", "carol")
    not_after = Certificate.from_pem(pem.encode()).not_after
    assert auth.authenticate_pem(pem).org == "acme"
    now[0] = ISSUED - timedelta(seconds=1)
    assert "not valid before" in refused("certificate_not_yet_valid", lambda: auth.authenticate_pem(pem)).detail
    now[0] = not_after
    assert auth.authenticate_pem(pem).org == "acme"  # valid through its last second
    now[0] = not_after + timedelta(seconds=1)
    assert "expired at" in refused("certificate_expired", lambda: auth.authenticate_pem(pem)).detail
    # a certificate its CA outlives by nothing: the CA's end bounds it (acme's SM2 CA ends in 2036)
    ca = Certificate.from_pem(OrgPaths.of(world.root, OrgId("acme")).sm2_ca_cert.read_bytes())
    long = crafted(world, "acme", days=(ca.not_after - ISSUED).days + 30)
    now[0] = ca.not_after + timedelta(days=1)
    error = refused("certificate_expired", lambda: auth.authenticate_pem(long))
    assert "the CA of org acme" in error.detail


def test_unknown_member_and_suspended(world: SmWorld) -> None:
    status = {"acme": "suspended"}
    auth = CallerAuthenticator(world.description, world.root, status.get, clock=lambda: NOW)
    pem = world.pem("acme", "alice")
    assert auth.authenticate_pem(pem).org == "acme"  # the gateway denies and records a suspended member's calls
    assert "suspended" in refused("unknown_member", lambda: auth.admit_pem(pem)).detail
    refused("unknown_member", lambda: auth.authenticate_pem(world.pem("globex", "bob")))


# ------------------------------------------------------------------------------------------ the SM2 CRL


def test_sm2_crl_reread_within_a_second_of_a_revocation(world: SmWorld) -> None:
    clock = Clock()
    auth = world.auth(crl_clock=clock)  # the default interval: look at the CRL file at most once a second
    pem = world.pem("acme", "dave")
    looked = clock.now
    assert auth.authenticate_pem(pem).org == "acme"  # the first call looks at the file: none yet
    path = revoke_identity(world.root, OrgId("acme"), pem.encode(), PASS, now=NOW)
    assert path == OrgPaths.of(world.root, OrgId("acme")).sm2_crl
    clock.now = looked + 0.999
    assert auth.authenticate_pem(pem).org == "acme"  # looked at under a second ago: not yet
    clock.now = looked + 1.0
    error = refused("certificate_revoked", lambda: auth.authenticate_pem(pem))
    assert "is revoked by org acme" in error.detail
    assert auth.authenticate_pem(world.pem("acme", "alice")).org == "acme"  # the others of the org pass
    assert auth.authenticate_pem(world.pem("globex", "bob")).org == "globex"


def test_a_bad_sm2_crl_fails_closed_and_recovers(world: SmWorld) -> None:
    acme = OrgId("acme")
    path = OrgPaths.of(world.root, acme).sm2_crl
    auth = world.auth(crl_check_interval=0.0)
    alice = world.pem("acme", "alice")
    revoke_identity(world.root, acme, world.pem("acme", "frank").encode(), PASS, now=NOW)  # a list in place
    good = path.read_bytes()
    try:
        assert auth.authenticate_pem(alice).org == "acme"
        # a bit of the signature flipped
        crl = bytearray(CRL.from_pem(good).der)
        crl[-5] ^= 0x01
        path.write_bytes(CRL.from_der(bytes(crl)).to_pem())
        error = refused("certificate_revoked", lambda: auth.authenticate_pem(alice))
        assert "cannot be checked" in error.detail
        # a list without dave under acme's SM2 CA name, signed by another key (the forger's SM2 CA)
        forger = Certificate.from_pem(OrgPaths.of(world.outside, acme).sm2_ca_cert.read_bytes())
        forged = issue_crl(
            forger.der, load_sm2_ca_key(world.outside, acme, PASS), [], NOW, NOW + timedelta(days=30), 99
        )
        path.write_bytes(CRL.from_der(forged).to_pem())
        refused("certificate_revoked", lambda: auth.authenticate_pem(alice))
        path.write_bytes(b"not a CRL\n")
        refused("certificate_revoked", lambda: auth.authenticate_pem(alice))
        assert auth.authenticate_pem(world.pem("globex", "bob")).org == "globex"  # other orgs unaffected
    finally:
        path.write_bytes(good)
    assert auth.authenticate_pem(alice).org == "acme"  # a valid list again: back to normal
    refused("certificate_revoked", lambda: auth.authenticate_pem(world.pem("acme", "frank")))
    path.unlink()  # no list: no revocations
    assert auth.authenticate_pem(world.pem("acme", "frank")).org == "acme"
    path.write_bytes(good)


# ------------------------------------------------------------------------------------------ the cache


def test_the_cache_keeps_each_verdict_and_is_bounded(world: SmWorld) -> None:
    auth = world.auth(cache_size=2)
    alice, bob = world.pem("acme", "alice"), world.pem("globex", "bob")
    first = auth.authenticate_pem(alice)
    assert auth.authenticate_pem(alice) is first  # from the cache: the same object, no SM2 verification
    auth.authenticate_pem(bob)
    refused("unknown_issuer", lambda: auth.authenticate_pem(world.pem("umbrella", "zed", world.outside)))
    assert len(auth._state.cache) == 2  # alice evicted
    again = auth.authenticate_pem(alice)
    assert again == first and again is not first
    assert isinstance(again, Caller)
