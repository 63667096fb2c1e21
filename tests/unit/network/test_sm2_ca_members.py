"""The SM2 identity CA of every member of an ``sm`` consortium, not only the founders': a firm that joins carries it
in its signed admission request, its people get SM2 certificates, and the explorer learns the CA from the
TrustDirectory's ``CA_CERT`` record of it (``member keys publish``) while the TLS side leaves that record out; and
``consortium identity sm2-ca`` gives a member created before the SM2 CAs one, with every refusal.

In process, no chain: real identities (``create_org_identity(crypto="sm")``, ``join``), a ``consortium.json`` of
the founders, a :class:`TrustView` that never reads a chain and is handed snapshots as a refresh would leave them.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import OrgId, Role
from chain.node.peerfollow import plan_peers
from chain.trustview import TrustSnapshot, TrustView
from cli.main import cli as consortium
from network.admission import AdmissionError, AdmissionRequest, create_request, join, load_request, parse_request
from network.certificates import AuthError, CallerAuthenticator
from network.description import load_description
from network.identity import (
    OrgPaths,
    create_org_identity,
    issue_identity,
    issue_service_certificate,
    load_org_public,
    load_person_key,
    load_sm2_ca_key,
    user_paths,
)
from network.logins import Authenticator, LoginError, make_token
from network.trust import sm2_ca_record, sm2_identity_cas
from suite.sm2 import SM2PrivateKey
from suite.x509 import Certificate
from tests.support.clock import FIXED_NOW
from tests.support.member_directory import write_description

PASS = b"sm2 ca members passphrase"
NOW = FIXED_NOW
CREATED = NOW - timedelta(days=1)
FOUNDERS: dict[str, tuple[str, Role]] = {"acme": ("ACME Securities", Role.MEMBER)}
FIRM = OrgId("epsilon")


def _read_clock() -> float:
    """The notary's clock for reads (unix seconds): five minutes after NOW, whatever the day the test runs."""
    return (NOW + timedelta(minutes=5)).timestamp()


@dataclasses.dataclass
class World:
    root: Path  # the founders' directory, the explorer's
    firm: Path  # the directory epsilon joined from
    request: AdmissionRequest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("sm-founders")
    for org, (name, _roles) in FOUNDERS.items():
        create_org_identity(root, OrgId(org), name, PASS, now=CREATED, crypto="sm")
    description = write_description(root, FOUNDERS, crypto="sm")
    firm = tmp_path_factory.mktemp("sm-joiner") / "epsilon"
    request, _path = join(firm, description, FIRM, "Epsilon Securities", Role.MEMBER, PASS, now=CREATED)
    issue_identity(firm, FIRM, "erin", PASS, now=NOW - timedelta(hours=1), role="operator", org_roles=Role.MEMBER)
    return World(root, firm, request)


def refused(match: str, call: Callable[[], object]) -> None:
    with pytest.raises(AdmissionError, match=match):
        call()


class _NoChain:
    """A backend the view never asks in these tests."""

    description = "no chain"


def _record(org: str, index: int, value: bytes, valid_until: int | None = None) -> KeyRecord:
    state = KeyState.OPEN if valid_until is None else KeyState.RETIRED
    return KeyRecord(OrgId(org), index, KeyKind.CA_CERT, value, 0, valid_until, state, 0, None)


def _follow(view: TrustView, snapshot: TrustSnapshot) -> None:
    """The view as a refresh at the snapshot's block leaves it, its subscribers told."""
    view._snapshot, view._head = snapshot, snapshot.block
    for callback in view._subscribers:
        callback(snapshot)


def _p256_der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------------------------------ the admission request


def test_the_request_of_a_firm_joining_an_sm_consortium_carries_its_sm2_ca(world: World) -> None:
    public = load_org_public(world.firm, FIRM)
    assert public.sm2_ca_cert_pem is not None
    assert world.request.sm2_ca_cert_pem == public.sm2_ca_cert_pem
    data = json.loads((world.firm / "admission-request.json").read_text())
    assert data["sm2_ca_fingerprint"] == "0x" + world.request.sm2_ca_fingerprint.hex()  # type: ignore[union-attr]
    assert load_request(world.firm / "admission-request.json") == world.request
    assert any(line.startswith("SM2 CA       0x") and "sm2-ca.epsilon" in line for line in world.request.summary())
    # the admin key signed it with the rest: another SM2 CA, with its fingerprint made to match, is refused
    other = create_org_identity(world.firm / "other", FIRM, "Epsilon Securities", PASS, crypto="sm").sm2_ca_cert_pem
    forged = dataclasses.replace(world.request, sm2_ca_cert_pem=other)
    refused("signature does not verify", lambda: parse_request(forged.to_json()))
    refused("sm2_ca_fingerprint is not the SHA-256", lambda: parse_request({**data, "sm2_ca_cert_pem": other}))
    refused("invalid field", lambda: parse_request({**data, "sm2_ca_cert_pem": public.ca_cert_pem}))  # not SM2
    without = {k: v for k, v in data.items() if k != "sm2_ca_cert_pem"}
    refused("sm2_ca_fingerprint without sm2_ca_cert_pem", lambda: parse_request(without))


def test_a_joined_firm_issues_sm2_people_and_its_callers_stay_p256(world: World) -> None:
    erin = Certificate.from_pem(user_paths(world.firm, FIRM, "erin").cert.read_bytes())
    assert erin.issuer == Certificate.from_pem(OrgPaths.of(world.firm, FIRM).sm2_ca_cert.read_bytes()).subject
    assert isinstance(load_person_key(world.firm, FIRM, "erin", PASS), SM2PrivateKey)
    issue_identity(world.firm, FIRM, "gw-caller", PASS, now=NOW)  # no role: a gateway caller, TLS, P-256
    assert x509.load_pem_x509_certificate(user_paths(world.firm, FIRM, "gw-caller").cert.read_bytes())


# ------------------------------------------------------------------------------------------ the verifiers


def test_the_explorer_takes_a_joined_members_sm2_ca_from_its_record_on_chain(world: World) -> None:
    firm = load_org_public(world.firm, FIRM)
    sm2 = sm2_ca_record(firm)
    assert sm2 is not None and sm2[0] is KeyKind.CA_CERT
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    auth = Authenticator(
        world.root, regulator_orgs=(), is_member=lambda org: True, clock=lambda: NOW + timedelta(minutes=5), trust=view
    )
    cert = user_paths(world.firm, FIRM, "erin").cert.read_bytes()
    token = "Bearer " + make_token(cert, load_person_key(world.firm, FIRM, "erin", PASS), now=NOW)
    with pytest.raises(LoginError) as before:  # consortium.json lists the founders only, the chain is unread
        auth.authenticate(token)
    assert before.value.reason == "unknown_issuer"
    # genesis: acme's P-256 CA; epsilon (`member keys publish`): its P-256 CA and its SM2 CA; mallory records
    # epsilon's SM2 CA as its own, which names another org and counts for nothing
    records = {
        "acme": (_record("acme", 0, _p256_der(load_org_public(world.root, OrgId("acme")).ca_cert_pem)),),
        "epsilon": (_record("epsilon", 0, _p256_der(firm.ca_cert_pem)), _record("epsilon", 1, sm2[1])),
        "mallory": (_record("mallory", 0, sm2[1]),),
    }
    _follow(view, TrustSnapshot.of(5, 1, records))
    assert {org: [c.der for c, _ in cas] for org, cas in sm2_identity_cas(view.snapshot).items()} == {  # type: ignore[arg-type]
        "epsilon": [sm2[1]]
    }
    person = auth.authenticate(token)
    assert (person.org, person.role) == ("epsilon", "operator")
    # the firm retires it at block 7: refused from then on
    retired = {**records, "epsilon": (records["epsilon"][0], _record("epsilon", 1, sm2[1], valid_until=7))}
    _follow(view, TrustSnapshot.of(6, 2, retired))
    assert auth.authenticate(token).org == "epsilon"
    _follow(view, TrustSnapshot.of(7, 3, retired))
    with pytest.raises(LoginError) as after:
        auth.authenticate(token)
    assert after.value.reason == "unknown_issuer" and "not valid on chain at block 7" in after.value.detail


def test_the_tls_side_leaves_an_sm2_ca_record_out(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The nodes' peers and the gateway's TLS trust take the P-256 CA alone, without a warning for the SM2 one (an
    expected record); a record that is no certificate at all is still warned about."""
    firm = load_org_public(world.firm, FIRM)
    sm2 = sm2_ca_record(firm)
    assert sm2 is not None
    snapshot = TrustSnapshot.of(5, 1, {"epsilon": (_record("epsilon", 0, _p256_der(firm.ca_cert_pem)),
                                                   _record("epsilon", 1, sm2[1]),
                                                   _record("epsilon", 2, b"\x30\x03not a certificate"))})  # fmt: skip
    assert plan_peers(snapshot, 5, "acme").cas == {"epsilon": (_p256_der(firm.ca_cert_pem),)}  # the nodes' peers
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    description = load_description(world.root)
    callers = CallerAuthenticator(description, world.root, lambda org: "active", trust=view)
    cert, key = issue_service_certificate(world.root, OrgId("acme"), "gateway", PASS, now=NOW)
    ctx = callers.server_ssl_context(cert, key, PASS)
    _follow(view, snapshot)
    trusted = sorted(x509.load_der_x509_certificate(d).subject.rfc4514_string() for d in ctx.get_ca_certs(True))
    assert trusted == ["CN=ca.acme,OU=acme,O=ACME Securities", "CN=ca.epsilon,OU=epsilon,O=Epsilon Securities"]
    assert isinstance(ctx, ssl.SSLContext)
    warned = [r.getMessage() for r in caplog.records if "cannot be parsed" in r.getMessage()]
    assert warned == ["a CA certificate of member epsilon cannot be parsed: ignored"]  # the garbage, once


def test_the_notary_reads_a_joined_members_people_while_the_registry_says_it_is_active(world: World) -> None:
    """With the trust view, the notary asks the registry statuses the view reads: a suspended or removed member's
    SM2 person reads nothing, an active one's does (no chain: the view handed snapshots)."""
    from chain.ids import MemberStatus
    from network.logsetup import read_access
    from notary.readauth import UnauthenticatedError

    sm2 = sm2_ca_record(load_org_public(world.firm, FIRM))
    assert sm2 is not None
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    access = read_access(world.root, load_description(world.root), trust=view, clock=_read_clock)
    cert = user_paths(world.firm, FIRM, "erin").cert.read_bytes()
    header = {"Authorization": "Bearer " + make_token(cert, load_person_key(world.firm, FIRM, "erin", PASS), now=NOW)}
    records = {"epsilon": (_record("epsilon", 0, sm2[1]),)}
    for block, status in enumerate((MemberStatus.ACTIVE, MemberStatus.SUSPENDED, 0, MemberStatus.ACTIVE), 5):
        _follow(view, TrustSnapshot.of(block, 1, records, {"acme": MemberStatus.ACTIVE, "epsilon": status}))
        if status == MemberStatus.ACTIVE:
            assert access.authenticate("GET", "/", header).who == "erin@epsilon"
        else:
            with pytest.raises(UnauthenticatedError, match="not a member of the consortium on chain"):
                access.authenticate("GET", "/", header)


def test_a_members_sm2_crl_counts_for_the_people_of_each_of_its_sm2_cas_trusted_now(
    world: World, tmp_path: Path
) -> None:
    """An org with two SM2 identity CAs on chain (a rotation's overlap: the old, and a new one of the same name
    whose key signs the org's one SM2 CRL from then on): the list counts for the old CA's people too, as the P-256
    list does, instead of locking them out; once the CA that signed it is retired on chain it counts for nobody
    (fail closed), and that CA's people are refused for their issuer."""
    import shutil

    from network import _sm2ca

    old = Certificate.from_pem(OrgPaths.of(world.firm, FIRM).sm2_ca_cert.read_bytes())
    old_key = load_sm2_ca_key(world.firm, FIRM, PASS)
    new_key = SM2PrivateKey.generate()
    new = Certificate.from_der(
        _sm2ca.build_ca(new_key, "Epsilon Securities", "epsilon", CREATED, NOW + timedelta(days=90))
    )
    assert new.subject_der == old.subject_der and new.der != old.der

    def person(name: str, ca: Certificate, key: SM2PrivateKey) -> tuple[int, str]:
        own = SM2PrivateKey.generate()
        der = _sm2ca.issue_person(
            ca, key, own.public_key(), name, "epsilon", "compliance", CREATED, NOW + timedelta(days=30)
        )
        cert = Certificate.from_der(der)
        return cert.serial, "Bearer " + make_token(cert.to_pem(), own, now=NOW)

    (revoked, olga), (_, oscar), (_, nina) = (
        person("olga", old, old_key),
        person("oscar", old, old_key),
        person("nina", new, new_key),
    )
    root = tmp_path / "explorer"
    shutil.copytree(world.root, root)
    crl = OrgPaths.of(root, FIRM).sm2_crl
    crl.parent.mkdir(parents=True, exist_ok=True)
    crl.write_bytes(_sm2ca.build_crl(new, new_key, [(revoked, NOW)], NOW, NOW + timedelta(days=30), 1))
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    ticks = iter(range(10**6))
    auth = Authenticator(
        root,
        regulator_orgs=(),
        is_member=lambda org: True,
        clock=lambda: NOW + timedelta(minutes=5),
        trust=view,
        crl_clock=lambda: float(next(ticks)),
    )
    records = {"epsilon": (_record("epsilon", 0, old.der), _record("epsilon", 1, new.der))}
    _follow(view, TrustSnapshot.of(5, 1, records))

    def refusal(token: str) -> tuple[str, str] | None:
        try:
            auth.authenticate(token)
        except LoginError as exc:
            return exc.reason, exc.detail
        return None

    assert refusal(oscar) is None and refusal(nina) is None  # the old CA's person too, by the new CA's list
    assert refusal(olga) == (
        "certificate_revoked",
        f"certificate {_subject('olga')} (serial {revoked:#x}) is revoked by org epsilon",
    )
    # the new CA retired at block 7 (say the rotation abandoned): its list counts for nobody, its people refused
    retired = {"epsilon": (records["epsilon"][0], _record("epsilon", 1, new.der, valid_until=7))}
    _follow(view, TrustSnapshot.of(7, 2, retired))
    for token, name in ((oscar, "oscar"), (olga, "olga")):
        reason, detail = refusal(token) or ("", "")
        assert reason == "certificate_revoked"
        assert detail.startswith(
            f"the revocation status of {_subject(name)} cannot be checked: the SM2 CRL {crl} is not"
        )
        assert "the SM2 signature does not verify" in detail
    assert refusal(nina) == (
        "unknown_issuer",
        f"the SM2 CA {new.subject!r} of org epsilon is not valid on chain at block 7: certificate {_subject('nina')} is"
        " no longer accepted",
    )


def test_a_founders_listed_sm2_ca_once_recorded_on_chain_is_retired_by_its_record(world: World, tmp_path: Path) -> None:
    """A founder's SM2 CA counts by its listing in ``consortium.json`` while the chain has no record of it; once the
    founder recorded it (``member keys publish``), its records decide, so retiring it on chain retires it."""
    from network import _sm2ca

    ca = Certificate.from_pem(OrgPaths.of(world.root, OrgId("acme")).sm2_ca_cert.read_bytes())
    own = SM2PrivateKey.generate()
    der = _sm2ca.issue_person(
        ca, load_sm2_ca_key(world.root, OrgId("acme"), PASS), own.public_key(), "amy", "acme", "compliance",
        CREATED, NOW + timedelta(days=30),
    )  # fmt: skip
    token = "Bearer " + make_token(Certificate.from_der(der).to_pem(), own, now=NOW)
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    auth = Authenticator(
        world.root, regulator_orgs=(), is_member=lambda org: True, clock=lambda: NOW + timedelta(minutes=5), trust=view
    )
    acme_p256 = _record("acme", 0, _p256_der(load_org_public(world.root, OrgId("acme")).ca_cert_pem))
    _follow(view, TrustSnapshot.of(5, 1, {"acme": (acme_p256,)}))
    assert auth.authenticate(token).org == "acme"  # listed, never recorded: its listing counts
    _follow(view, TrustSnapshot.of(6, 2, {"acme": (acme_p256, _record("acme", 1, ca.der))}))
    assert auth.authenticate(token).org == "acme"
    _follow(view, TrustSnapshot.of(8, 3, {"acme": (acme_p256, _record("acme", 1, ca.der, valid_until=8))}))
    with pytest.raises(LoginError) as retired:
        auth.authenticate(token)
    assert retired.value.reason == "unknown_issuer"
    assert f"the SM2 CA {ca.subject!r} of org acme is not valid on chain at block 8" in retired.value.detail


def _subject(name: str) -> str:
    return f"CN={name}@epsilon,2.5.4.12=#0c0a636f6d706c69616e6365,OU=epsilon,O=Epsilon Securities"


# ------------------------------------------------------------------------------------------ identity sm2-ca


def _run(root: Path, *args: str, passphrase: bytes = PASS) -> Any:
    env = {"CONSORTIUM_PASSPHRASE": passphrase.decode()}
    return CliRunner().invoke(consortium, ["--dir", str(root), "identity", "sm2-ca", *args], env=env)


def _older_sm_consortium(root: Path, orgs: dict[str, tuple[str, Role]]) -> None:
    """Members of an ``sm`` consortium from before the SM2 identity CAs: no sm2-ca files, none listed."""
    for org, (name, _roles) in orgs.items():
        create_org_identity(root, OrgId(org), name, PASS, now=CREATED, crypto="sm")
        paths = OrgPaths.of(root, OrgId(org))
        paths.sm2_ca_cert.unlink()
        paths.sm2_ca_key.unlink()
    write_description(root, orgs, crypto="sm")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_identity_sm2_ca_gives_a_founder_of_an_older_sm_consortium_its_sm2_ca(tmp_path: Path) -> None:
    _older_sm_consortium(tmp_path, {"legacy": ("Legacy Bank", Role.MEMBER), "other": ("Other Bank", Role.MEMBER)})
    issue_identity(tmp_path, OrgId("legacy"), "lee", PASS, now=NOW, role="operator")
    assert not isinstance(load_person_key(tmp_path, OrgId("legacy"), "lee", PASS), SM2PrivateKey)
    result = _run(tmp_path, "--org", "legacy")
    assert result.exit_code == 0, result.output
    assert "member keys publish --as legacy" in result.output
    paths = OrgPaths.of(tmp_path, OrgId("legacy"))
    assert paths.sm2_ca_key.stat().st_mode & 0o777 == 0o600
    assert paths.sm2_ca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    ca = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
    assert ca.subject == "CN=sm2-ca.legacy,OU=legacy,O=Legacy Bank"
    assert load_sm2_ca_key(tmp_path, OrgId("legacy"), PASS).public_key() == ca.public_key
    listed = load_description(tmp_path).member("legacy").identity.sm2_ca_cert_pem
    assert listed is not None and Certificate.from_pem(listed.encode()).der == ca.der
    assert load_description(tmp_path).member("other").identity.sm2_ca_cert_pem is None
    # at the real now: the command made the SM2 CA at the machine's time (it takes no clock)
    issue_identity(tmp_path, OrgId("legacy"), "liv", PASS, role="operator")  # `user add` now: SM2
    assert isinstance(load_person_key(tmp_path, OrgId("legacy"), "liv", PASS), SM2PrivateKey)


def test_identity_sm2_ca_gives_a_firm_that_joined_before_them_one_for_the_chain(world: World, tmp_path: Path) -> None:
    firm = tmp_path / "zeta"
    description = load_description(world.root)
    join(firm, description, OrgId("zeta"), "Zeta Bank", Role.MEMBER, PASS, now=CREATED)
    paths = OrgPaths.of(firm, OrgId("zeta"))
    paths.sm2_ca_cert.unlink()
    paths.sm2_ca_key.unlink()
    old = create_request(firm, description, OrgId("zeta"), Role.MEMBER, PASS, now=NOW)  # as one made before the SM2 CAs
    assert old.sm2_ca_cert_pem is None and "sm2_ca_cert_pem" not in old.to_json()
    (firm / "admission-request.json").write_text(json.dumps(old.to_json()))
    assert load_request(firm / "admission-request.json") == old  # signed and checked without the SM2 fields
    before = (firm / "consortium.json").read_bytes()
    result = _run(firm, "--org", "zeta")
    assert result.exit_code == 0, result.output
    assert (firm / "consortium.json").read_bytes() == before  # it lists the founders only
    assert "member keys publish --as zeta" in result.output
    assert Certificate.from_pem(paths.sm2_ca_cert.read_bytes()).subject == "CN=sm2-ca.zeta,OU=zeta,O=Zeta Bank"
    # at the real now: the command made the SM2 CA at the machine's time (it takes no clock)
    issue_identity(firm, OrgId("zeta"), "zoe", PASS, role="operator")  # its people are SM2 from now on
    assert isinstance(load_person_key(firm, OrgId("zeta"), "zoe", PASS), SM2PrivateKey)
    again = _run(firm, "--org", "zeta")
    assert again.exit_code == 1 and "already has an SM2 identity CA" in again.output


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("intl", "runs the 'intl' suite"),
        ("unknown", "no member 'nobody'"),
        ("listed", "consortium.json lists one"),
        ("files", "already has an SM2 identity CA"),
        ("passphrase", "wrong passphrase"),
    ],
)
def test_identity_sm2_ca_refusals_write_nothing(tmp_path: Path, case: str, expected: str) -> None:
    if case == "intl":
        create_org_identity(tmp_path, OrgId("legacy"), "Legacy Bank", PASS, now=CREATED)
        write_description(tmp_path, {"legacy": ("Legacy Bank", Role.MEMBER)})
    elif case == "listed":
        create_org_identity(tmp_path, OrgId("legacy"), "Legacy Bank", PASS, now=CREATED, crypto="sm")
        write_description(tmp_path, {"legacy": ("Legacy Bank", Role.MEMBER)}, crypto="sm")
        OrgPaths.of(tmp_path, OrgId("legacy")).sm2_ca_cert.unlink()  # listed, though its files are gone
        OrgPaths.of(tmp_path, OrgId("legacy")).sm2_ca_key.unlink()
    else:
        _older_sm_consortium(tmp_path, {"legacy": ("Legacy Bank", Role.MEMBER)})
    if case == "files":  # an SM2 CA made, not listed (a run cut off before consortium.json was written)
        OrgPaths.of(tmp_path, OrgId("legacy")).sm2_ca_key.write_bytes(b"made before")
    before = _snapshot(tmp_path)
    org = "nobody" if case == "unknown" else "legacy"
    result = _run(tmp_path, "--org", org, passphrase=b"not the passphrase" if case == "passphrase" else PASS)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert _snapshot(tmp_path) == before


def test_the_trust_directory_records_an_sm2_ca_as_it_stands_and_the_explorer_reads_it(
    world: World, tmp_path: Path
) -> None:
    """The contract as deployed (eth-tester, in process) takes the SM2 CA's DER as a CA_CERT of the member that adds
    it, and a view reading it gives the explorer that member's SM2 people: no change of contract."""
    from chain.backend import EthTesterBackend
    from tests.support.consortium import Keys, deploy_test_consortium

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "explorer"  # consortium.json lists acme; alpha, a member on chain, only there
        create_org_identity(root, OrgId("acme"), "ACME Securities", PASS, now=CREATED, crypto="sm")
        write_description(root, FOUNDERS, crypto="sm")
        firm = tmp_path / "alpha"
        create_org_identity(firm, OrgId("alpha"), "Alpha Securities", PASS, now=CREATED, crypto="sm")
        write_description(firm, {"alpha": ("Alpha Securities", Role.MEMBER)}, crypto="sm")  # its own view
        issue_identity(firm, OrgId("alpha"), "ann", PASS, now=NOW - timedelta(hours=1), role="compliance")
        assert isinstance(load_person_key(firm, OrgId("alpha"), "ann", PASS), SM2PrivateKey)
        record = sm2_ca_record(load_org_public(firm, OrgId("alpha")))
        assert record is not None
        index = chain.trust.add_key(chain.signers["alpha"], *record)
        assert chain.trust.find("alpha", KeyKind.CA_CERT, record[1]) == index
        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        auth = Authenticator(root, regulator_orgs=(), clock=lambda: NOW + timedelta(minutes=5), trust=view)
        token = make_token(
            user_paths(firm, OrgId("alpha"), "ann").cert.read_bytes(),
            load_person_key(firm, OrgId("alpha"), "ann", PASS),
            now=NOW,  # the authenticator's clock is NOW's, not the time this test reaches this line
        )
        assert auth.authenticate("Bearer " + token).org == "alpha"
    finally:
        backend.close()


def test_the_notary_reads_a_joined_members_people_once_its_ca_is_on_chain_and_not_after_it_retires(
    tmp_path: Path,
) -> None:
    """The notary's authenticated reads (``read_access`` with the trust view ``notary serve`` follows) take a
    firm admitted later, which ``consortium.json`` does not list, from its ``CA_CERT`` records on the TrustDirectory
    as deployed (eth-tester, in process): its SM2 person and the P-256 person of another refused before the record,
    read once it is on chain, refused once it is retired; without the view, never."""
    from chain.backend import EthTesterBackend
    from network.logsetup import read_access
    from notary.readauth import UnauthenticatedError
    from tests.support.consortium import Keys, deploy_test_consortium

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "notary"  # consortium.json lists acme; alpha and beta, members on chain, only there
        create_org_identity(root, OrgId("acme"), "ACME Securities", PASS, now=CREATED, crypto="sm")
        description = write_description(root, FOUNDERS, crypto="sm")
        people: dict[str, tuple[str, bytes]] = {}  # org → its person's token, its CA's record value
        for org, crypto in (("alpha", "sm"), ("beta", "intl")):
            firm = tmp_path / org
            create_org_identity(firm, OrgId(org), f"{org.title()} Securities", PASS, now=CREATED, crypto=crypto)
            write_description(firm, {org: (f"{org.title()} Securities", Role.MEMBER)}, crypto=crypto)  # its own
            issue_identity(firm, OrgId(org), "ann", PASS, now=NOW - timedelta(hours=1), role="compliance")
            public = load_org_public(firm, OrgId(org))
            sm2 = sm2_ca_record(public)
            value = sm2[1] if sm2 is not None else _p256_der(public.ca_cert_pem)
            cert = user_paths(firm, OrgId(org), "ann").cert.read_bytes()
            people[org] = (make_token(cert, load_person_key(firm, OrgId(org), "ann", PASS), now=NOW), value)
        assert (_alg(people["alpha"][0]), _alg(people["beta"][0])) == ("SM2SM3", "ES256")
        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        access = read_access(root, description, trust=view, clock=_read_clock)
        unfollowed = read_access(root, description, clock=_read_clock)  # consortium.json alone, as before

        def refusal(org: str, through: Any = access) -> str | None:
            """Why ``org``'s person may not read (None: read, as ann@org, no regulator)."""
            try:
                reader = through.authenticate("GET", "/", {"Authorization": f"Bearer {people[org][0]}"})
            except UnauthenticatedError as exc:
                return str(exc)
            assert (reader.org, reader.regulator, reader.who) == (org, False, f"ann@{org}")
            return None

        assert "no SM2 identity CA in consortium.json nor on chain" in str(refusal("alpha"))
        assert "which is not the CA of any member" in str(refusal("beta"))
        indexes = {
            org: chain.trust.add_key(chain.signers[org], KeyKind.CA_CERT, value) for org, (_, value) in people.items()
        }
        assert view.refresh()
        assert refusal("alpha") is None and refusal("beta") is None
        assert "no SM2 identity CA in consortium.json" in str(refusal("alpha", unfollowed))
        assert "which is not the CA of any member" in str(refusal("beta", unfollowed))
        for org, index in indexes.items():
            chain.trust.retire_key(chain.signers[org], index)
        assert view.refresh()
        assert "of org alpha is not valid on chain" in str(refusal("alpha"))
        assert "of org beta that issued CN=ann@beta" in str(refusal("beta"))
    finally:
        backend.close()


def _alg(token: str) -> str:
    """The ``alg`` of a compact JWS's header."""
    import base64

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"])


def test_a_gateway_takes_its_callers_sm2_cas_from_the_chain_as_the_people_checks_do(tmp_path: Path) -> None:
    """A gateway's check of SM2 client certificates forwarded by a TLCP terminator follows the TrustDirectory as
    deployed (eth-tester, in process), with the people checks' rule: a firm that joined later (beta) has its SM2
    caller refused before its SM2 CA is on chain, let in once it is, refused once retired; a founder's SM2 CA
    (alpha's, listed in consortium.json) counts by its listing until it is recorded, then its record decides."""
    from chain.backend import EthTesterBackend
    from network.sm2callers import issue_sm2_identity
    from network.trust import ChainMemberStatus
    from tests.support.consortium import Keys, deploy_test_consortium

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "gateway"  # consortium.json lists alpha; beta, a member on chain, only there
        callers: dict[str, tuple[str, bytes]] = {}  # org → its SM2 caller's certificate PEM, its SM2 CA's record
        for org, directory in (("alpha", root), ("beta", tmp_path / "beta")):
            create_org_identity(directory, OrgId(org), f"{org.title()} Securities", PASS, now=CREATED, crypto="sm")
            description = write_description(directory, {org: (f"{org.title()} Securities", Role.MEMBER)}, crypto="sm")
            sm2 = issue_sm2_identity(directory, OrgId(org), "svc", PASS, now=NOW - timedelta(hours=1))
            record = sm2_ca_record(load_org_public(directory, OrgId(org)))
            assert record is not None
            callers[org] = (sm2.cert.read_text(), record[1])
        description = load_description(root)
        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        auth = CallerAuthenticator(
            description,
            root,
            ChainMemberStatus(view, ["alpha"]),
            clock=lambda: NOW + timedelta(minutes=5),
            trust=view,
        )

        def refusal(org: str) -> str | None:
            """Why ``org``'s SM2 caller is refused (None: let in as svc@org)."""
            try:
                caller = auth.authenticate_pem(callers[org][0])
            except AuthError as exc:
                return f"{exc.reason}: {exc.detail}"
            assert (caller.org, caller.subject.startswith("CN=svc@")) == (org, True)
            return None

        assert refusal("alpha") is None  # listed, never recorded
        assert str(refusal("beta")).startswith("unknown_issuer: SM2 certificate CN=svc@beta")
        indexes = {
            org: chain.trust.add_key(chain.signers[org], KeyKind.CA_CERT, value) for org, (_, value) in callers.items()
        }
        assert view.refresh()
        assert refusal("alpha") is None and refusal("beta") is None
        for org, index in indexes.items():
            chain.trust.retire_key(chain.signers[org], index)
        assert view.refresh()
        for org in ("alpha", "beta"):
            assert "unknown_issuer: the SM2 CA 'CN=" in str(refusal(org))
            assert f"of org {org} is not valid on chain at block {view.head}" in str(refusal(org))
    finally:
        backend.close()


def test_a_regulator_admitted_after_genesis_reads_as_a_regulator_at_the_notary(tmp_path: Path) -> None:
    """The notary's authenticated reads (``read_access`` over the trust view) take the regulator role from the
    ConsortiumRegistry as deployed (eth-tester, in process): the person of reg, a regulator on chain that
    consortium.json does not list, reads as a regulator by its token, and a service of it by its client
    certificate."""
    from chain.backend import EthTesterBackend
    from network.logsetup import read_access
    from tests.support.consortium import Keys, deploy_test_consortium

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "notary"  # consortium.json lists acme; reg, a regulator on chain, only there
        create_org_identity(root, OrgId("acme"), "ACME Securities", PASS, now=CREATED, crypto="sm")
        description = write_description(root, FOUNDERS, crypto="sm")
        description = dataclasses.replace(
            description, contracts={**description.contracts, "ConsortiumRegistry": chain.registry.address}
        )
        firm = tmp_path / "reg"
        create_org_identity(firm, OrgId("reg"), "Regulator", PASS, now=CREATED, crypto="sm")
        write_description(firm, {"reg": ("Regulator", Role.REGULATOR)}, crypto="sm")
        issue_identity(
            firm, OrgId("reg"), "rita", PASS, now=NOW - timedelta(hours=1), role="regulator", org_roles=Role.REGULATOR
        )
        cert = user_paths(firm, OrgId("reg"), "rita").cert.read_bytes()
        token = "Bearer " + make_token(cert, load_person_key(firm, OrgId("reg"), "rita", PASS), now=NOW)
        record = sm2_ca_record(load_org_public(firm, OrgId("reg")))
        assert record is not None
        chain.trust.add_key(chain.signers["reg"], *record)
        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        reader = read_access(root, description, trust=view, clock=_read_clock).authenticate(
            "GET", "/", {"Authorization": token}
        )
        assert (reader.org, reader.regulator, reader.who) == ("reg", True, "rita@reg")
        # its client certificate (a P-256 service's, no role) reads as a regulator's service too
        issue_identity(firm, OrgId("reg"), "svc", PASS, now=NOW - timedelta(hours=1))
        record = (KeyKind.CA_CERT, _p256_der(load_org_public(firm, OrgId("reg")).ca_cert_pem))
        chain.trust.add_key(chain.signers["reg"], *record)
        assert view.refresh()
        pem = user_paths(firm, OrgId("reg"), "svc").cert.read_text()
        access = read_access(root, description, trust=view, clock=_read_clock)
        assert access.authenticate("GET", "/", {}, client_cert=pem).regulator
    finally:
        backend.close()
