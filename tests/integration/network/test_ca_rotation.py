"""``network.carotation.rotate_ca`` (``consortium identity rotate-ca``) against the in-process chain node: the new
CA published as a CA_CERT of the org and the old one retired after the overlap, the org's certificates re-issued by
the new CA with their keys, both CAs' certificates admitted by a follower of the chain during the overlap and the
old CA's refused after it (a gateway's caller check and the explorer's logins); the refusals, each before anything
is written or sent; a later ``--from-block`` staged and published, installed by a second run from that block; a
firm that joined later rotating its CA with the command line from its own directory."""

from __future__ import annotations

import json
import ssl
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts import KeyKind
from chain.contracts.trust import KeyState, TrustDirectoryClient
from chain.ids import OrgId
from chain.trustview import TrustView
from cli.main import cli
from network import carotation
from network.carotation import CaFiles, CaRotationError, rotate_ca
from network.certificates import AuthError, CallerAuthenticator
from network.identity import (
    OrgPaths,
    PassphraseError,
    create_org_identity,
    issue_identity,
    issue_service_certificate,
    load_user_key,
    revoke_identity,
    user_paths,
    verify_crl,
)
from network.logins import Authenticator, make_token
from network.trust import follow_ca_bundle
from notary.durable import replace_file
from tests.support.consortium import Consortium, described, joined
from tests.support.wait import wait_until

PASS = b"ca-rotation-passphrase"
ORG = "op"
#: A firm that joined later, from a directory of its own under a passphrase of its own.
JOINED = "delta"
JOINED_PASS = b"delta-own-passphrase"

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificates(path.read_bytes())[0].public_bytes(serialization.Encoding.DER)


def _mine_to(c: Consortium, block: int, view: TrustView) -> None:
    while int(c.backend.web3.eth.block_number) < block:
        c.advance_time(1)
    view.refresh()


def test_a_rotated_ca_is_admitted_beside_the_old_one_until_the_old_one_retires(
    consortium: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consortium
    op = c.signers[ORG]
    description = described(c, tmp_path, "rot", PASS)
    description.write(tmp_path)
    paths = OrgPaths.of(tmp_path, OrgId(ORG))
    issue_identity(tmp_path, OrgId(ORG), "alice", PASS, role="compliance")
    issue_service_certificate(tmp_path, OrgId(ORG), "gateway", PASS)
    alice = user_paths(tmp_path, OrgId(ORG), "alice")
    old_alice, alice_key = _der(alice.cert), alice.key.read_bytes()
    old_ca = _der(paths.ca_cert)
    old_index = c.trust.add_key(op, KeyKind.CA_CERT, old_ca)
    issue_identity(tmp_path, OrgId(ORG), "gone", PASS, role="operator")
    revoke_identity(tmp_path, OrgId(ORG), user_paths(tmp_path, OrgId(ORG), "gone").cert.read_bytes(), PASS)

    view = TrustView(c.backend, c.trust.address)
    view.refresh()
    callers = CallerAuthenticator(description, tmp_path, lambda org: "active", trust=view)
    logins = Authenticator(tmp_path, regulator_orgs=(), trust=view)
    assert callers.authenticate(old_alice).org == ORG

    def stopping(path: Path, data: bytes, mode: int) -> None:  # the first run stops before the CA files move
        if path.name == "ca-cert.pem" and path.parent.name == "ca":
            raise OSError(28, "No space left on device")
        replace_file(path, data, mode)

    monkeypatch.setattr(carotation, "replace_file", stopping)
    with pytest.raises(OSError, match="No space left"):  # the certificates and the CRL issued again already
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG, overlap_blocks=3)
    monkeypatch.setattr(carotation, "replace_file", replace_file)
    rotation = rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG, overlap_blocks=3)  # the next one finishes
    assert rotation.installed and rotation.old_index == old_index
    new_ca = _der(paths.ca_cert)
    assert new_ca != old_ca and _der(paths.ca_previous) == old_ca
    assert not CaFiles.of(tmp_path, ORG).staged()
    gone = x509.load_pem_x509_certificate(user_paths(tmp_path, OrgId(ORG), "gone").cert.read_bytes())
    crl = verify_crl(paths.crl.read_bytes(), x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()))
    assert [r.serial_number for r in crl] == [gone.serial_number]  # signed by the new CA, the entry kept
    records = c.trust.records(ORG)
    assert records[rotation.new_index].value == new_ca and records[rotation.new_index].kind is KeyKind.CA_CERT
    assert records[old_index].state is KeyState.RETIRED
    assert records[old_index].valid_until == rotation.valid_from + 3 == rotation.old_valid_until
    # the admin's re-issued certificate is the one the registry names
    member = c.registry.member(ORG)
    assert member is not None and member.cert_fingerprint == rotation_fingerprint(paths.admin_cert)

    new_alice = _der(alice.cert)
    assert new_alice != old_alice and alice.key.read_bytes() == alice_key  # same key, its file untouched
    assert stat.S_IMODE(alice.key.stat().st_mode) == 0o600
    assert _der(alice.ca_cert) == new_ca

    view.refresh()  # the follower reads the block of the new CA: both admitted in the overlap
    assert callers.authenticate(old_alice).org == ORG
    assert callers.authenticate(new_alice).org == ORG
    key = load_user_key(tmp_path, OrgId(ORG), "alice", PASS)
    assert logins.authenticate("Bearer " + make_token(alice.cert.read_bytes(), key)).org == ORG

    _mine_to(c, rotation.valid_from + 3, view)  # the old CA retired: only the new one's
    with pytest.raises(AuthError, match="unknown_issuer"):
        callers.authenticate(old_alice)
    assert callers.authenticate(new_alice).org == ORG
    assert logins.authenticate("Bearer " + make_token(alice.cert.read_bytes(), key)).org == ORG


def rotation_fingerprint(path: Path) -> bytes:
    import hashlib

    return hashlib.sha256(_der(path)).digest()


def test_refusals_write_nothing_and_a_later_from_block_is_installed_by_a_second_run(
    consortium: Consortium, tmp_path: Path
) -> None:
    c = consortium
    op = c.signers[ORG]
    described(c, tmp_path, "rot", PASS)
    paths = OrgPaths.of(tmp_path, OrgId(ORG))
    files = CaFiles.of(tmp_path, ORG)
    before = {p: p.read_bytes() for p in (paths.ca_cert, paths.ca_key, paths.admin_cert)}
    count = c.trust.record_count(ORG)

    def nothing_written() -> None:
        assert {p: p.read_bytes() for p in before} == before
        assert not files.next_cert.exists() and not files.next_key.exists()
        assert c.trust.record_count(ORG) == count

    with pytest.raises(CaRotationError, match="no open CA_CERT of op valid now on chain"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG)  # its CA is not on chain
    nothing_written()
    c.trust.add_key(op, KeyKind.CA_CERT, _der(paths.ca_cert))
    count += 1
    with pytest.raises(CaRotationError, match="'zeta' is not a member on chain"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, "zeta")
    with pytest.raises(CaRotationError, match="no CA key of alpha"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, c.signers["alpha"], "alpha")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        rotate_ca(tmp_path, b"not-the-passphrase", c.trust, c.registry, op, ORG)
    with pytest.raises(CaRotationError, match="in the past"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG, from_block=0)
    nothing_written()

    # a later --from-block: staged and published, installed by a second run from that block
    head = int(c.backend.web3.eth.block_number)
    staged = rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG, from_block=head + 10, overlap_blocks=5)
    assert not staged.installed and staged.valid_from == head + 10 and staged.old_valid_until == head + 15
    assert files.staged() and paths.admin_cert.read_bytes() == before[paths.admin_cert]
    with pytest.raises(CaRotationError, match=f"valid from block {head + 10}"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG)
    _mine_to(c, head + 10, TrustView(c.backend, c.trust.address))
    installed = rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG)
    assert installed.installed and installed.new_index == staged.new_index and not files.staged()
    assert paths.admin_cert in installed.reissued and paths.admin_cert.read_bytes() != before[paths.admin_cert]
    assert c.trust.record_count(ORG) == count + 1  # no third CA: the staged one was installed

    proposal = c.registry.propose_remove(c.signers["alpha"], "gamma")
    assert c.registry.approve(c.signers["beta"], proposal)
    with pytest.raises(CaRotationError, match="'gamma' is removed on chain"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, c.signers["gamma"], "gamma")
    c.registry.suspend(c.signers["reg"], ORG)
    with pytest.raises(CaRotationError, match="'op' is suspended on chain"):
        rotate_ca(tmp_path, PASS, c.trust, c.registry, op, ORG)
    assert c.trust.record_count(ORG) == count + 1 and not files.staged()


def test_a_joined_firm_rotates_its_ca_from_its_own_directory(
    consortium: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A firm that joined later (``member join``: its own directory and passphrase, a ``consortium.json`` listing
    the founders only, its CA known to the founders from the chain alone) runs ``identity rotate-ca`` from that
    directory: the new CA on chain, its people's and its gateway's certificates re-issued there, the founders'
    gateways and logins admitting the re-issued certificates, and its old CA's only until it retires; and
    ``identity server-cert`` issues its gateway's certificate there, before the rotation and after it."""
    c = consortium
    founders_dir, firm_dir = tmp_path / "founders", tmp_path / "firm"
    founders = described(c, founders_dir, "rot", PASS)
    founders.write(founders_dir)
    joined(c, founders, firm_dir, JOINED, JOINED_PASS)
    passphrase = tmp_path / "delta.pass"
    passphrase.write_bytes(JOINED_PASS)

    def run(*args: str) -> str:
        """The command as the firm runs it, in its own directory."""
        url = c.backend.server.url  # type: ignore[attr-defined]
        result = CliRunner().invoke(
            cli, ["--dir", str(firm_dir), "--chain-url", url, "--passphrase-file", str(passphrase), *args]
        )
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    org = OrgId(JOINED)
    paths = OrgPaths.of(firm_dir, org)
    issue_identity(firm_dir, org, "erin", JOINED_PASS, role="compliance")
    run("identity", "server-cert", "--org", JOINED, "--service", "gateway")  # its CA: the one its request names
    gateway_tls = paths.org_dir / "gateway" / "tls" / "cert.pem"
    erin = user_paths(firm_dir, org, "erin")
    old_erin, old_ca = _der(erin.cert), _der(paths.ca_cert)
    old_index = c.trust.find(JOINED, KeyKind.CA_CERT, old_ca)

    view = TrustView(c.backend, c.trust.address)  # a founder's gateway and explorer, in the founders' directory
    view.refresh()
    callers = CallerAuthenticator(founders, founders_dir, lambda org: "active", trust=view)
    logins = Authenticator(founders_dir, regulator_orgs=(), trust=view)
    assert callers.authenticate(old_erin).org == JOINED

    def lost(*args: object, **kwargs: object) -> None:  # the first run stops between its two transactions
        raise ConnectionError("the chain went away")

    retire = TrustDirectoryClient.retire_key
    monkeypatch.setattr(TrustDirectoryClient, "retire_key", lost)
    url = c.backend.server.url  # type: ignore[attr-defined]
    stopped = CliRunner().invoke(
        cli, ["--dir", str(firm_dir), "--chain-url", url, "--passphrase-file", str(passphrase), "identity",
              "rotate-ca", "--overlap-blocks", "3", "--as", JOINED],
    )  # fmt: skip
    assert isinstance(stopped.exception, ConnectionError)  # the new CA recorded, the old one's record left open
    monkeypatch.setattr(TrustDirectoryClient, "retire_key", retire)
    answer = json.loads(run("identity", "rotate-ca", "--overlap-blocks", "3", "--as", JOINED, "--json"))
    assert answer["installed"] and answer["old"]["index"] == old_index is not None  # retired by this run
    assert answer["old"]["valid_until"] == answer["new"]["valid_from"] + 3
    new_ca = _der(paths.ca_cert)
    assert new_ca != old_ca and _der(paths.ca_previous) == old_ca
    assert c.trust.records(JOINED)[answer["new"]["index"]].value == new_ca
    reissued = {firm_dir / p for p in answer["reissued"]}
    assert {erin.cert, paths.admin_cert, gateway_tls} <= reissued
    member = c.registry.member(JOINED)
    assert member is not None and member.cert_fingerprint == rotation_fingerprint(paths.admin_cert)

    new_erin = _der(erin.cert)
    view.refresh()  # the overlap: both admitted
    assert callers.authenticate(old_erin).org == JOINED
    assert callers.authenticate(new_erin).org == JOINED
    key = load_user_key(firm_dir, org, "erin", JOINED_PASS)
    assert logins.authenticate("Bearer " + make_token(erin.cert.read_bytes(), key)).org == JOINED

    _mine_to(c, answer["old"]["valid_until"], view)  # the old CA retired: only the new one's
    with pytest.raises(AuthError, match="unknown_issuer"):
        callers.authenticate(old_erin)
    assert callers.authenticate(new_erin).org == JOINED
    assert logins.authenticate("Bearer " + make_token(erin.cert.read_bytes(), key)).org == JOINED

    # its gateway's certificate issued again by the new CA, followed by the cross certificate to the old one
    issued = run("identity", "server-cert", "--org", JOINED, "--service", "gateway")
    chain = x509.load_pem_x509_certificates(gateway_tls.read_bytes())
    assert f"serial {chain[0].serial_number:#x}" in issued
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject and _der(paths.ca_cert) == new_ca
    # and revoked on chain by its file, the firm's only revocation (no founder reads its CRL)
    assert f"revoked serial {chain[0].serial_number:#x} of {JOINED}" in run(
        "member", "keys", "revoke", "--cert", str(gateway_tls), "--as", JOINED
    )
    view.refresh()
    assert view.is_revoked(JOINED, chain[0].serial_number)
    # and in its own CRL by the same file, whose first certificate is the one revoked
    revoked = run("identity", "revoke", "--org", JOINED, "--cert", str(gateway_tls))
    assert f"revoked serial {chain[0].serial_number:#x} (" in revoked, revoked


def test_a_ca_bundle_file_followed_changes_with_the_cas_on_chain(consortium: Consortium, tmp_path: Path) -> None:
    """``member keys ca-bundle --out FILE --follow`` (``network.trust.follow_ca_bundle``): the file is written at
    the start, again when a CA is added on chain and when it is retired, each write said; nothing is written while
    nothing changed."""
    c = consortium
    create_org_identity(tmp_path, OrgId(ORG), "Op Again", PASS)
    added = _der(OrgPaths.of(tmp_path, OrgId(ORG)).ca_cert)
    pem = ssl.DER_cert_to_PEM_cert(added)
    out = tmp_path / "bundle.pem"
    stop, said = threading.Event(), list[str]()
    view = TrustView(c.backend, c.trust.address)
    thread = threading.Thread(target=follow_ca_bundle, args=(view, out, stop, 0.05, said.append), daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(said) == 1, "the bundle written at the start", 30)
        first = out.read_text()
        assert pem not in first and "written to" in said[0]
        index = c.trust.add_key(c.signers[ORG], KeyKind.CA_CERT, added)
        # each write is said once the file is written: wait for the saying, then read the file
        wait_until(lambda: len(said) == 2, "the CA added on chain written to the file", 30)
        assert out.read_text() == first + pem  # the newest record last
        c.trust.retire_key(c.signers[ORG], index)
        wait_until(lambda: len(said) == 3, "the CA retired on chain written out of the file", 30)
        assert out.read_text() == first and len(said) == 3
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
