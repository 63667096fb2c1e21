"""network.carotation without a chain: the new CA and its cross certificate, a certificate issued again, the org's
folder re-issued file by file (modes, the keys untouched, the CRL signed again), TLS certificates that a caller
trusting only the old CA still verifies (a handshake in memory, OpenSSL's path building), and the followers' rule
over both CAs (a gateway's caller check, with the org's CRL now signed by the new CA)."""

from __future__ import annotations

import logging
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts.trust import KeyKind, KeyRecord, KeyState
from chain.ids import OrgId, Role
from chain.node.peers import tls_contexts
from chain.tlsfiles import ReloadingContext
from chain.trustview import TrustSnapshot, TrustView
from contracts import CONTRACT_NAMES
from network._pem import cert_pem, parse_cert
from network.carotation import cross_certificate, links_to, new_ca, read_cross_chain, reissue_folder, reissued
from network.certificates import AuthError, CallerAuthenticator
from network.description import ConsortiumDescription, MemberDescription
from network.identity import (
    OrgPaths,
    OrgPublic,
    create_org_identity,
    issue_identity,
    issue_node_certificate,
    issue_service_certificate,
    load_private_key,
    revoke_identity,
    user_paths,
)
from notary.durable import replace_file

PASS = b"ca-rotation-unit-passphrase"
ORG = OrgId("alpha")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _first(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def _old_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    paths = OrgPaths.of(directory, ORG)
    key = load_private_key(paths.ca_key, PASS)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return parse_cert(paths.ca_cert.read_bytes()), key


_ServerEnd = tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]


def _server_end(server: ssl.SSLContext) -> _ServerEnd:
    """A connection of ``server`` in memory, made now (its certificate copied from the context now)."""
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    return server.wrap_bio(s_in, s_out, server_side=True), s_in, s_out


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, end: _ServerEnd | None = None) -> tuple[int, int | None]:
    """A TLS handshake between the two contexts in memory (no socket), through ``end`` if given: raises the client's
    SSLError if refused; the serial of the server's certificate as the client saw it, and of the client's as the
    server saw it (None: it presented none)."""
    c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    tls_server, s_in, s_out = end or _server_end(server)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", tls_client), ("server", tls_server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            served, presented = tls_client.getpeercert(binary_form=True), tls_server.getpeercert(binary_form=True)
            assert served is not None
            return _serial(served), None if presented is None else _serial(presented)
    raise AssertionError("the handshake did not finish")


def _serial(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def test_the_new_ca_is_the_orgs_and_the_cross_certificate_links_it_to_the_old_one(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    old, old_key = _old_ca(tmp_path)
    key, new = new_ca(old, NOW)
    assert new.subject == old.subject and new.public_key() != old.public_key()
    assert new.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert isinstance(key.curve, ec.SECP256R1)
    cross = cross_certificate(old_key, old, new, NOW)
    assert cross.public_key() == new.public_key() and cross.issuer == old.subject
    assert links_to(new, [cross], old) and links_to(old, [], old)
    assert not links_to(new, [], old)  # no path without the cross certificate
    _, newer = new_ca(new, NOW)
    assert links_to(newer, [cross_certificate(key, new, newer, NOW), cross], old)  # two rotations, back to the first
    assert not links_to(newer, [cross], old)


def test_a_certificate_issued_again_keeps_its_subject_key_and_extensions(tmp_path: Path) -> None:
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    issue_identity(tmp_path, ORG, "carol", PASS, now=NOW, days=30, role="operator")
    old, _ = _old_ca(tmp_path)
    key, new = new_ca(old, NOW)
    cert = _first(user_paths(tmp_path, ORG, "carol").cert)
    later = NOW + timedelta(days=1)
    again = reissued(cert, key, new, later)
    assert again is not None
    assert (again.subject, again.public_key(), again.not_valid_after_utc) == (
        cert.subject,
        cert.public_key(),
        cert.not_valid_after_utc,
    )
    assert again.not_valid_before_utc == later and again.serial_number != cert.serial_number
    again.verify_directly_issued_by(new)
    kept = [e.oid for e in cert.extensions if not isinstance(e.value, x509.AuthorityKeyIdentifier)]
    assert [e.oid for e in again.extensions][: len(kept)] == kept
    authority = again.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert authority.key_identifier == new.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert reissued(cert, key, new, NOW + timedelta(days=31)) is None  # expired: not issued again


def test_the_org_folder_is_reissued_and_both_cas_are_admitted_until_the_old_one_retires(tmp_path: Path) -> None:
    public = create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    paths = OrgPaths.of(tmp_path, ORG)
    issue_identity(tmp_path, ORG, "carol", PASS, now=NOW)
    issue_identity(tmp_path, ORG, "leaked", PASS, now=NOW)
    issue_service_certificate(tmp_path, ORG, "gateway", PASS, now=NOW)
    issue_service_certificate(tmp_path, ORG, "node", PASS, now=NOW)
    carol, leaked = user_paths(tmp_path, ORG, "carol"), user_paths(tmp_path, ORG, "leaked")
    revoke_identity(tmp_path, ORG, leaked.cert.read_bytes(), PASS, now=NOW)
    before_keys = {p: p.read_bytes() for p in (carol.key, paths.identity_key, paths.gateway_tls_key)}
    old_carol, old_leaked = _der(_first(carol.cert)), _der(_first(leaked.cert))
    old, old_key = _old_ca(tmp_path)
    key, new = new_ca(old, NOW)
    cross = cross_certificate(old_key, old, new, NOW)

    written = list(reissue_folder(tmp_path, ORG, old, key, new, [cross], NOW + timedelta(hours=1)))
    assert set(written) == {  # not the revoked one's: a new serial would be revoked nowhere
        carol.cert,
        paths.sign_cert,
        paths.admin_cert,
        paths.gateway_tls_cert,
        paths.node_tls_cert,
        paths.crl,
    }
    assert {p: p.read_bytes() for p in before_keys} == before_keys  # the keys stay, their files untouched
    assert paths.admin_cert.read_bytes() == paths.sign_cert.read_bytes()
    for cert_file in (carol.cert, paths.admin_cert, paths.gateway_tls_cert, paths.node_tls_cert):
        _first(cert_file).verify_directly_issued_by(new)
        assert stat.S_IMODE(cert_file.stat().st_mode) == 0o644
    assert len(x509.load_pem_x509_certificates(carol.cert.read_bytes())) == 1  # a person's: one certificate
    assert read_cross_chain(paths.gateway_tls_cert)[1:] == [cross]  # a TLS one: its path back to the old CA
    assert _first(carol.ca_cert) == new and _first(paths.msp_ca_cert) == new
    crl = x509.load_pem_x509_crl(paths.crl.read_bytes())
    assert crl.is_signature_valid(new.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(x509.load_der_x509_certificate(old_leaked).serial_number)

    # a caller trusting only the CA consortium.json lists verifies the re-issued server certificate, as one
    # trusting the new CA does
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths.gateway_tls_cert, paths.gateway_tls_key, password=PASS)
    for trusted in ([old], [new], [old, new]):
        _handshake(server, ssl.create_default_context(cadata="".join(cert_pem(c) for c in trusted)))
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # the certificate without the cross certificate after it
    (tmp_path / "leaf.pem").write_text(cert_pem(_first(paths.gateway_tls_cert)))
    bare.load_cert_chain(tmp_path / "leaf.pem", paths.gateway_tls_key, password=PASS)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(bare, ssl.create_default_context(cadata=cert_pem(old)))

    # a gateway following the chain: both CAs admitted in the overlap (the CRL, now the new CA's, still counts
    # for what the old one issued), the old one's refused once it retired
    description = _description(public)
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    callers = CallerAuthenticator(
        description, tmp_path, lambda org: "active", clock=lambda: NOW + timedelta(hours=2), trust=view
    )
    records = (_record(0, _der(old), 0, 20), _record(1, _der(new), 10, None))
    _follow(view, TrustSnapshot.of(15, 2, {ORG: records}), 15)
    new_carol = _der(_first(carol.cert))
    assert callers.authenticate(old_carol).org == ORG
    assert callers.authenticate(new_carol).org == ORG
    assert _der(_first(leaked.cert)) == old_leaked
    with pytest.raises(AuthError, match="certificate_revoked"):
        callers.authenticate(old_leaked)
    _follow(view, TrustSnapshot.of(20, 2, {ORG: records}), 20)
    with pytest.raises(AuthError, match="unknown_issuer"):
        callers.authenticate(old_carol)
    assert callers.authenticate(new_carol).org == ORG


def test_what_the_new_ca_issues_next_carries_the_cross_certificates_and_the_old_cas_can_be_revoked(
    tmp_path: Path,
) -> None:
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    paths = OrgPaths.of(tmp_path, ORG)
    issue_identity(tmp_path, ORG, "dave", PASS, now=NOW)
    old_dave = user_paths(tmp_path, ORG, "dave").cert.read_bytes()
    old, old_key = _old_ca(tmp_path)
    key, new = new_ca(old, NOW)
    cross = cross_certificate(old_key, old, new, NOW)
    list(reissue_folder(tmp_path, ORG, old, key, new, [cross], NOW))
    # as install_ca_rotation leaves the CA files
    paths.ca_previous.write_text(cert_pem(old))
    paths.ca_cross.write_text(cert_pem(cross))
    paths.ca_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASS)
    ))  # fmt: skip
    paths.ca_cert.write_text(cert_pem(new))
    issue_service_certificate(tmp_path, ORG, "notary", PASS, now=NOW)
    served = x509.load_pem_x509_certificates(paths.service_tls("notary")[0].read_bytes())
    assert served[1:] == [cross]
    served[0].verify_directly_issued_by(new)
    crl = revoke_identity(tmp_path, ORG, old_dave, PASS, now=NOW)  # issued by the CA before: still the org's
    listed = x509.load_pem_x509_crl(crl.read_bytes())
    assert listed.get_revoked_certificate_by_serial_number(x509.load_pem_x509_certificate(old_dave).serial_number)


def test_a_client_context_presents_the_reissued_certificate_from_its_next_connection(tmp_path: Path) -> None:
    """A running service's client context (chain reads, the notary, the SDK) follows its certificate's file: once a
    rotation re-issued it, the next connection presents the new CA's, which a server trusting that CA only takes."""
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    issue_identity(tmp_path, ORG, "chain", PASS, now=NOW)
    issue_service_certificate(tmp_path, ORG, "gateway", PASS, now=NOW)
    paths, service = OrgPaths.of(tmp_path, ORG), user_paths(tmp_path, ORG, "chain")
    old, old_key = _old_ca(tmp_path)
    seconds = [0.0]
    client = ReloadingContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cadata=cert_pem(old))
    client.present(service.cert, service.key, PASS, interval=1.0, clock=lambda: seconds[0])
    key, new = new_ca(old, NOW)
    list(reissue_folder(tmp_path, ORG, old, key, new, [cross_certificate(old_key, old, new, NOW)], NOW))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # a follower after the retirement: the new CA only
    server.load_cert_chain(paths.gateway_tls_cert, paths.gateway_tls_key, password=PASS)
    server.load_verify_locations(cadata=cert_pem(new))
    server.verify_mode = ssl.CERT_REQUIRED
    with pytest.raises(ssl.SSLError):
        _handshake(server, client)  # looked at less than a second ago: the certificate loaded before
    seconds[0] = 1.0
    _handshake(server, client)


def test_a_server_presents_its_reissued_certificate_from_the_next_handshake_and_one_begun_before_keeps_the_old(
    tmp_path: Path,
) -> None:
    """A running server's context (a gateway's, the notary's, a node's JSON-RPC, the alarm endpoint:
    ``CallerAuthenticator.server_ssl_context``) follows its certificate's file: once a rotation re-issued it in place,
    the next handshake after a look presents the new serial. OpenSSL copies a context's certificate into each
    connection it makes, so loading it again into the same context changes what later connections present and not
    what one made before does."""
    public = create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    cert, key = issue_service_certificate(tmp_path, ORG, "gateway", PASS, now=NOW)
    old, old_key = _old_ca(tmp_path)
    seconds = [0.0]
    callers = CallerAuthenticator(_description(public), tmp_path, lambda org: "active")
    server = callers.server_ssl_context(cert, key, PASS, reload_clock=lambda: seconds[0])
    client = ssl.create_default_context(cadata=cert_pem(old))  # a caller trusting consortium.json's CA only
    before = _first(cert).serial_number
    assert _handshake(server, client) == (before, None)
    begun = _server_end(server)
    new_key, new = new_ca(old, NOW)
    list(reissue_folder(tmp_path, ORG, old, new_key, new, [cross_certificate(old_key, old, new, NOW)], NOW))
    after = _first(cert).serial_number
    assert after != before
    seconds[0] = 0.9
    assert _handshake(server, client)[0] == before  # looked at less than a second ago
    seconds[0] = 1.0
    assert _handshake(server, client)[0] == after
    assert _handshake(server, client, begun)[0] == before


def test_a_server_keeps_its_certificate_when_the_new_files_cannot_be_used_and_warns_once_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files a server cannot use (a certificate unreadable, another key's certificate, the key under another
    passphrase, the key gone) keep the certificate it presents, handshakes go on, and each change is one warning, a
    look after it was first seen; a key and then its certificate written one look apart are loaded without one."""
    caplog.set_level(logging.WARNING, logger="chain.tlsfiles")
    public = create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    cert, key = issue_service_certificate(tmp_path, ORG, "gateway", PASS, now=NOW)
    other_cert, other_key = issue_service_certificate(tmp_path, ORG, "notary", PASS, now=NOW)
    seconds = [0.0]
    server = CallerAuthenticator(_description(public), tmp_path, lambda org: "active").server_ssl_context(
        cert, key, PASS, reload_clock=lambda: seconds[0]
    )
    client = ssl.create_default_context(cadata=cert_pem(_old_ca(tmp_path)[0]))
    served, good_cert, good_key = _first(cert).serial_number, cert.read_bytes(), key.read_bytes()
    other_passphrase = load_private_key(key, PASS).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"another passphrase"),
    )
    unreadable = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "chain.tlsfiles" and r.levelno >= logging.WARNING]

    def look() -> int:
        seconds[0] += 1.0
        return _handshake(server, client)[0]

    changes = [
        (unreadable, good_key, f"{cert} holds no readable PEM certificate"),
        (other_cert.read_bytes(), good_key, f"{cert} is not the certificate of the key in {key}"),
        (good_cert, other_passphrase, f"cannot open {key}: wrong passphrase"),
        (good_cert, None, f"cannot read {key}"),
    ]
    for count, (cert_data, key_data, why) in enumerate(changes, 1):
        replace_file(cert, cert_data, 0o644)
        if key_data is None:
            key.unlink()
        else:
            replace_file(key, key_data, 0o600)
        assert look() == served and len(warnings()) == count - 1  # the next state is waited for
        assert look() == served and len(warnings()) == count
        assert why in warnings()[-1] and f"serial {served:#x}" in warnings()[-1], warnings()[-1]
        assert look() == served and len(warnings()) == count  # once a change
    replace_file(key, good_key, 0o600)
    assert look() == served and len(warnings()) == len(changes)

    replace_file(key, other_key.read_bytes(), 0o600)  # a key and then its certificate: no warning between
    assert look() == served
    replace_file(cert, other_cert.read_bytes(), 0o644)
    assert look() == _first(other_cert).serial_number
    assert len(warnings()) == len(changes)


def test_a_nodes_peer_server_and_links_present_its_reissued_certificate_from_the_next_connection(
    tmp_path: Path,
) -> None:
    """A node's peer contexts (``chain.node.peers.tls_contexts``), its server's and its links', follow the node's
    certificate: after a rotation, the next connection either way presents the re-issued one."""
    create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    cert, key = issue_node_certificate(tmp_path, ORG, PASS, now=NOW)
    old, old_key = _old_ca(tmp_path)
    bundle = tmp_path / "ca-bundle.pem"  # the nodes' bundle: the CA consortium.json lists
    bundle.write_text(cert_pem(old))
    seconds = [0.0]
    server, client = tls_contexts(str(cert), str(key), str(bundle), PASS, clock=lambda: seconds[0])
    before = _first(cert).serial_number
    assert _handshake(server, client) == (before, before)
    new_key, new = new_ca(old, NOW)
    list(reissue_folder(tmp_path, ORG, old, new_key, new, [cross_certificate(old_key, old, new, NOW)], NOW))
    seconds[0] = 1.0
    after = _first(cert).serial_number
    assert after != before
    assert _handshake(server, client) == (after, after)


def test_the_alarm_endpoint_beyond_loopback_takes_the_chains_cas_once_it_follows_a_view(tmp_path: Path) -> None:
    """`up`'s alarm endpoint (mutual TLS, the operator's certificates only) admits the operator's re-issued
    certificate once it follows the directory, as the gateways do; before, consortium.json's CA only."""
    from network.alarms.server import endpoint_tls

    public = create_org_identity(tmp_path, ORG, "Alpha Securities", PASS, now=NOW)
    issue_identity(tmp_path, ORG, "log", PASS, now=NOW)
    log = user_paths(tmp_path, ORG, "log")
    old, old_key = _old_ca(tmp_path)
    key, new = new_ca(old, NOW)
    list(reissue_folder(tmp_path, ORG, old, key, new, [cross_certificate(old_key, old, new, NOW)], NOW))
    _, check = endpoint_tls(tmp_path, _description(public), PASS, ORG, "127.0.0.1")
    pem = log.cert.read_text()
    assert "unknown_issuer" in str(check(pem))
    view = TrustView(_NoChain(), "0x" + "11" * 20)  # type: ignore[arg-type]
    check.follow(view)
    _follow(view, TrustSnapshot.of(15, 2, {ORG: (_record(0, _der(old), 0, 20), _record(1, _der(new), 10, None))}), 15)
    assert check(pem) is None


def _description(public: OrgPublic) -> ConsortiumDescription:
    return ConsortiumDescription(
        name="rot",
        chain_id=1,
        chain_kind="external",
        chain_url="",
        contracts={n: f"0x{i + 1:040x}" for i, n in enumerate(CONTRACT_NAMES)},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={"witnesses": [], "threshold": 0, "require_regulator": False},
        members=(MemberDescription(ORG, "Alpha Securities", Role.MEMBER | Role.OPERATOR, public),),
    )


class _NoChain:
    """A backend the view never asks in these tests."""

    description = "no chain"


def _record(index: int, value: bytes, valid_from: int, valid_until: int | None) -> KeyRecord:
    state = KeyState.OPEN if valid_until is None else KeyState.RETIRED
    return KeyRecord(ORG, index, KeyKind.CA_CERT, value, valid_from, valid_until, state, 0, None)


def _follow(view: TrustView, snapshot: TrustSnapshot, head: int) -> None:
    """The view as a refresh at ``head`` leaves it, its subscribers told."""
    view._snapshot, view._head = snapshot, head
    for callback in view._subscribers:
        callback(snapshot)
