"""``network.sm2rotation`` (``consortium identity rotate-ca --sm2``) against the TrustDirectory as deployed (eth-tester,
in process): a founder's SM2 identity CA, listed in ``consortium.json`` only, recorded and retired after the overlap,
the new one recorded; the SM2 people and SM2 callers the old CA issued issued again with their keys; the SM2 CRL
signed by the new CA with the old one's entries; the explorer's logins (``Authenticator`` following the chain) taking
both CAs' people during the overlap, the old CA's not after it, and a revocation made after the rotation for the
people of both; a rotation staged for a later block, installed by a later run; a joined firm's rotation; the
resumption's paths (a staged CA never recorded refused, an old record left open retired before a refusal); then each
refusal, writing nothing."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from chain.backend import EthTesterBackend
from chain.contracts.trust import KeyKind
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from cli.main import cli as consortium
from network.admission import join
from network.carotation import DEFAULT_OVERLAP_BLOCKS, CaRotation, CaRotationError
from network.identity import (
    OrgPaths,
    PassphraseError,
    create_org_identity,
    issue_identity,
    load_org_public,
    load_person_key,
    load_sm2_crl,
    revoke_identity,
    user_paths,
)
from network.logins import Authenticator, LoginError, make_token
from network.sm2callers import issue_sm2_identity, sm2_paths
from network.sm2rotation import Sm2CaFiles, rotate_sm2_ca
from network.trust import sm2_ca_record
from notary.durable import replace_file
from suite.sm2 import SM2PrivateKey
from suite.x509 import Certificate
from tests.support.consortium import Keys, deploy_test_consortium
from tests.support.member_directory import write_description

PASS = b"sm2 ca rotation passphrase"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=1)
ALPHA = OrgId("alpha")


def _founder(root: Path, org: OrgId = ALPHA) -> None:
    create_org_identity(root, org, f"{org.title()} Securities", PASS, now=CREATED, crypto="sm")
    write_description(root, {org: (f"{org.title()} Securities", Role.MEMBER)}, crypto="sm")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _token(cert_pem: bytes, key: ec.EllipticCurvePrivateKey | SM2PrivateKey) -> str:
    return "Bearer " + make_token(cert_pem, key, now=NOW)


def _sm2_issued(cert: Certificate, ca_file: Path) -> bool:
    from suite.errors import SM2Error
    from suite.sm2 import DEFAULT_ID

    try:
        Certificate.from_pem(ca_file.read_bytes()).public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)
    except SM2Error:
        return False
    return True


def _refusal(auth: Authenticator, token: str) -> str | None:
    try:
        auth.authenticate(token)
    except LoginError as exc:
        return f"{exc.reason}: {exc.detail}"
    return None


def test_a_founders_sm2_ca_rotated_keeps_its_people_in_through_the_overlap_and_not_after(tmp_path: Path) -> None:
    from network.description import load_description

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "alpha"
        _founder(root)
        for name in ("olga", "oscar", "gone", "vera"):
            issue_identity(root, ALPHA, name, PASS, now=NOW - timedelta(hours=1), role="operator")
        issue_identity(root, ALPHA, "svc", PASS, now=NOW - timedelta(hours=1))  # a gateway caller: P-256 ...
        issue_sm2_identity(root, ALPHA, "svc", PASS, now=NOW - timedelta(hours=1))  # ... and its SM2 certificate
        revoke_identity(root, ALPHA, user_paths(root, ALPHA, "gone").cert.read_bytes(), PASS, now=NOW)
        paths = OrgPaths.of(root, ALPHA)
        old = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
        before = {n: user_paths(root, ALPHA, n).cert.read_bytes() for n in ("olga", "oscar", "gone", "vera")}
        people = {n: load_person_key(root, ALPHA, n, PASS) for n in before}
        svc_before = Certificate.from_pem(sm2_paths(root, ALPHA, "svc").cert.read_bytes())
        assert chain.trust.find("alpha", KeyKind.CA_CERT, old.der) is None  # listed in consortium.json only

        r = rotate_sm2_ca(
            root, PASS, load_description(root), chain.trust, chain.registry, chain.signers["alpha"], "alpha",
            overlap_blocks=3, now=NOW,
        )  # fmt: skip

        # on chain: the listed SM2 CA recorded, then retired 3 blocks after the new one's record
        assert r.installed and r.old_valid_until == r.valid_from + 3
        old_record, new_record = chain.trust.record("alpha", r.old_index or 0), chain.trust.record("alpha", r.new_index)
        assert old_record is not None and old_record.value == old.der and old_record.valid_until == r.old_valid_until
        new = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
        assert new_record is not None and new_record.value == new.der and new.subject_der == old.subject_der
        # the files: the new key SM4-encrypted 0600, the old CA kept as previous, nothing staged left
        assert stat.S_IMODE(paths.sm2_ca_key.stat().st_mode) == 0o600
        assert SM2PrivateKey.from_pem(paths.sm2_ca_key.read_bytes(), PASS).public_key() == new.public_key
        assert Certificate.from_pem(paths.sm2_ca_previous.read_bytes()).der == old.der
        assert not Sm2CaFiles.of(root, "alpha").staged()
        # the people and the SM2 caller issued again with their keys; the revoked one not
        for name in ("olga", "oscar", "vera"):
            again = Certificate.from_pem(user_paths(root, ALPHA, name).cert.read_bytes())
            was = Certificate.from_pem(before[name])
            assert (again.subject, again.public_key, again.not_after) == (was.subject, was.public_key, was.not_after)
            assert again.serial != was.serial and user_paths(root, ALPHA, name).ca_cert.read_bytes() == new.to_pem()
        assert user_paths(root, ALPHA, "gone").cert.read_bytes() == before["gone"]
        svc = Certificate.from_pem(sm2_paths(root, ALPHA, "svc").cert.read_bytes())
        assert svc.public_key == svc_before.public_key and svc.serial != svc_before.serial
        written = {str(p.relative_to(root)) for p in r.reissued}
        assert "orgs/alpha/ca/sm2-crl.pem" in written
        assert "orgs/alpha/users/svc@alpha/msp/signcerts/cert.pem" not in written  # its P-256 one: not the SM2 CA's
        # the SM2 CRL signed by the new CA with the old one's entry
        crl = load_sm2_crl(root, ALPHA)
        assert crl is not None and set(crl.revoked) == {Certificate.from_pem(before["gone"]).serial}
        # `user add` goes on issuing SM2 people, now of the new CA (consortium.json still lists the old one)
        issue_identity(root, ALPHA, "nina", PASS, now=NOW, role="compliance")
        nina = user_paths(root, ALPHA, "nina").cert.read_bytes()
        assert Certificate.from_pem(nina).issuer_der == new.subject_der
        people["nina"] = load_person_key(root, ALPHA, "nina", PASS)
        result = CliRunner().invoke(  # and `identity issue --sm2` SM2 callers of it
            consortium,
            ["--dir", str(root), "identity", "issue", "--org", "alpha", "--name", "svc2", "--sm2"],
            env={"CONSORTIUM_PASSPHRASE": PASS.decode()},
        )
        assert result.exit_code == 0, result.output
        assert Certificate.from_pem(sm2_paths(root, ALPHA, "svc2").cert.read_bytes()).issuer_der == new.subject_der

        view = TrustView(backend, chain.trust.address)
        assert view.refresh()
        ticks = iter(range(10**6))
        auth = Authenticator(
            root, regulator_orgs=(), clock=lambda: NOW + timedelta(minutes=5), trust=view,
            crl_clock=lambda: float(next(ticks)),
        )  # fmt: skip
        old_tokens = {n: _token(before[n], people[n]) for n in before}
        new_tokens = {n: _token(user_paths(root, ALPHA, n).cert.read_bytes(), people[n]) for n in people}
        assert _refusal(auth, new_tokens["nina"]) is None and _refusal(auth, new_tokens["olga"]) is None
        assert _refusal(auth, old_tokens["olga"]) is None  # the old CA's certificate, in the overlap
        assert str(_refusal(auth, old_tokens["gone"])).startswith("certificate_revoked")
        # revoked after the rotation: an old-CA certificate (oscar's) and a new-CA one (vera's), on the one list
        revoke_identity(root, ALPHA, before["oscar"], PASS, now=NOW)
        revoke_identity(root, ALPHA, user_paths(root, ALPHA, "vera").cert.read_bytes(), PASS, now=NOW)
        assert str(_refusal(auth, old_tokens["oscar"])).startswith("certificate_revoked")
        assert str(_refusal(auth, new_tokens["vera"])).startswith("certificate_revoked")
        assert _refusal(auth, old_tokens["olga"]) is None
        # the old CA retires at its block: its people refused from then on, the new CA's let in
        blocks = (r.old_valid_until or 0) - int(backend.web3.eth.block_number)
        backend._tester.mine_blocks(blocks)
        view.refresh()  # the records are as they were: only the head moved
        assert view.head == r.old_valid_until
        assert "is not valid on chain at block" in str(_refusal(auth, old_tokens["olga"]))
        assert _refusal(auth, new_tokens["olga"]) is None and _refusal(auth, new_tokens["nina"]) is None
        assert str(_refusal(auth, new_tokens["vera"])).startswith("certificate_revoked")
    finally:
        backend.close()


def test_refusals_on_chain_a_staged_rotation_installed_later_and_a_joined_firms_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from network.description import load_description

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "beta"
        _founder(root, OrgId("beta"))
        issue_identity(root, OrgId("beta"), "bob", PASS, now=NOW - timedelta(hours=1), role="operator")
        description = load_description(root)
        signer = chain.signers["beta"]

        def rotate(passphrase: bytes = PASS, from_block: int | None = None) -> CaRotation:
            return rotate_sm2_ca(
                root, passphrase, description, chain.trust, chain.registry, signer, "beta", from_block=from_block,
                now=NOW,
            )  # fmt: skip

        files, records = _snapshot(root), chain.trust.records("beta")
        with pytest.raises(PassphraseError):
            rotate(b"not the passphrase")
        assert _snapshot(root) == files and chain.trust.records("beta") == records
        head = int(backend.web3.eth.block_number)
        staged = rotate(from_block=head + 10)
        assert not staged.installed and staged.valid_from == head + 10
        assert Sm2CaFiles.of(root, "beta").staged()
        files, records = _snapshot(root), chain.trust.records("beta")
        with pytest.raises(CaRotationError, match=r"is staged already: its new CA .* is valid from block"):
            rotate()
        assert _snapshot(root) == files and chain.trust.records("beta") == records
        backend._tester.mine_blocks(head + 10 - int(backend.web3.eth.block_number))
        done = rotate()
        assert done.installed
        assert "orgs/beta/users/bob@beta/msp/signcerts/cert.pem" in {str(p.relative_to(root)) for p in done.reissued}
        assert not Sm2CaFiles.of(root, "beta").staged()

        # a joined firm rotates the SM2 CA it recorded on chain (`member keys publish`); one not recorded is refused
        founders = tmp_path / "founders"
        _founder(founders)
        firm = tmp_path / "gamma"
        join(firm, load_description(founders), OrgId("gamma"), "Gamma Securities", Role.MEMBER, PASS, now=CREATED)

        def rotate_gamma() -> CaRotation:
            return rotate_sm2_ca(
                firm, PASS, load_description(firm), chain.trust, chain.registry, chain.signers["gamma"], "gamma",
                now=NOW,
            )  # fmt: skip

        files = _snapshot(firm)
        with pytest.raises(CaRotationError, match="record it with `consortium member keys publish --as gamma` first"):
            rotate_gamma()
        assert _snapshot(firm) == files and chain.trust.records("gamma") == []
        record = sm2_ca_record(load_org_public(firm, OrgId("gamma")))
        assert record is not None
        index = chain.trust.add_key(chain.signers["gamma"], *record)
        retire = chain.trust.retire_key

        def lost(*args: object, **kwargs: object) -> None:  # the run stops between its two transactions
            raise ConnectionError("the chain went away")

        monkeypatch.setattr(chain.trust, "retire_key", lost)
        with pytest.raises(ConnectionError):
            rotate_gamma()  # the new SM2 CA recorded, the old one's record left open
        monkeypatch.setattr(chain.trust, "retire_key", retire)
        rotated = rotate_gamma()  # the next run retires it before it installs the new one
        assert rotated.installed and rotated.old_index == index
        assert rotated.old_valid_until == rotated.valid_from + DEFAULT_OVERLAP_BLOCKS
        old_record = chain.trust.record("gamma", index)
        assert old_record is not None and old_record.valid_until == rotated.old_valid_until
        issue_identity(firm, OrgId("gamma"), "gail", PASS, now=NOW, role="operator")  # its request lists the old CA
        gail = Certificate.from_pem(user_paths(firm, OrgId("gamma"), "gail").cert.read_bytes())
        assert _sm2_issued(gail, OrgPaths.of(firm, OrgId("gamma")).sm2_ca_cert)
    finally:
        backend.close()


def test_an_installation_that_stopped_after_signing_the_crl_again_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SM2 CRL is signed again by the new CA before the CA files are replaced: a run that stopped in between
    (here: the write of sm2-ca.pem fails, the new key written) left a CRL the CA in sm2-ca.pem does not verify,
    which the next run takes as the new CA's instead of refusing to go on. Before it, a run stopped at a person's
    copy of the CA (``cacerts/``): the next run issues that person's certificate again and writes the copy, which
    is not left the old CA's."""
    import network.sm2rotation as sm2rotation
    from network.description import load_description

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "alpha"
        _founder(root)
        for name in ("olga", "gone"):
            issue_identity(root, ALPHA, name, PASS, now=NOW - timedelta(hours=1), role="operator")
        gone = Certificate.from_pem(user_paths(root, ALPHA, "gone").cert.read_bytes())
        revoke_identity(root, ALPHA, gone.to_pem(), PASS, now=NOW)

        def rotate() -> CaRotation:
            return rotate_sm2_ca(
                root, PASS, load_description(root), chain.trust, chain.registry, chain.signers["alpha"], "alpha",
                now=NOW,
            )  # fmt: skip

        written = replace_file

        olga_copy = user_paths(root, ALPHA, "olga").cert.parent.parent / "cacerts" / "ca-cert.pem"
        stops = [olga_copy, OrgPaths.of(root, ALPHA).sm2_ca_cert]  # each write fails once, in this order

        def stopping(path: Path, data: bytes, mode: int) -> None:
            if stops and path == stops[0]:
                stops.pop(0)
                raise OSError(28, "No space left on device")
            written(path, data, mode)

        monkeypatch.setattr(sm2rotation, "replace_file", stopping)
        for _ in range(2):
            with pytest.raises(OSError, match="No space left"):
                rotate()
        assert stops == []
        monkeypatch.setattr(sm2rotation, "replace_file", written)
        done = rotate()
        assert done.installed and not Sm2CaFiles.of(root, "alpha").staged()
        paths = OrgPaths.of(root, ALPHA)
        new = Certificate.from_pem(paths.sm2_ca_cert.read_bytes())
        assert SM2PrivateKey.from_pem(paths.sm2_ca_key.read_bytes(), PASS).public_key() == new.public_key
        crl = load_sm2_crl(root, ALPHA)  # verified by the new CA, the old one's entry kept
        assert crl is not None and set(crl.revoked) == {gone.serial}
        assert _sm2_issued(Certificate.from_pem(user_paths(root, ALPHA, "olga").cert.read_bytes()), paths.sm2_ca_cert)
        assert olga_copy.read_bytes() == paths.sm2_ca_cert.read_bytes()
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("intl", "runs the 'intl' suite: only a member of an 'sm' consortium has an SM2 identity CA to rotate"),
        ("unknown", "no member 'nobody' in consortium.json (members: alpha)"),
        ("no-sm2-ca", "alpha has no SM2 identity CA in"),
    ],
)
def test_rotate_ca_sm2_refusals_before_the_chain_write_nothing(tmp_path: Path, case: str, expected: str) -> None:
    if case == "intl":
        create_org_identity(tmp_path, ALPHA, "Alpha Securities", PASS, now=CREATED)
        write_description(tmp_path, {ALPHA: ("Alpha Securities", Role.MEMBER)})
    else:
        _founder(tmp_path)
    if case == "no-sm2-ca":
        OrgPaths.of(tmp_path, ALPHA).sm2_ca_key.unlink()
    org = "nobody" if case == "unknown" else "alpha"
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(
        consortium,
        ["--dir", str(tmp_path), "identity", "rotate-ca", "--sm2", "--as", org],
        env={"CONSORTIUM_PASSPHRASE": PASS.decode()},
    )
    assert result.exit_code == 1, result.output
    assert expected in result.output
    if case == "no-sm2-ca":
        assert "consortium identity sm2-ca --org alpha" in result.output
    assert _snapshot(tmp_path) == before


def test_a_resumed_sm2_rotation_retires_a_left_open_old_record_before_refusing_a_ca_not_valid_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resumption ``rotate-ca --sm2`` shares with the P-256 rotation (``carotation.resume_staged_ca``), on its
    paths the other tests do not take: a staged SM2 CA that never reached the chain is refused, nothing sent; once
    recorded valid from a later block by a run that stopped before retiring the old CA, the next run, before that
    block, retires the old record (the new one's first block plus the overlap) and then refuses, the staged files
    kept; the run from that block installs it."""
    from network.description import load_description

    keys = Keys.create()
    backend = EthTesterBackend(funded_accounts=keys.addresses())
    try:
        chain = deploy_test_consortium(backend, keys)
        root = tmp_path / "alpha"
        _founder(root)
        files = Sm2CaFiles.of(root, "alpha")
        records = chain.trust.records("alpha")  # the placeholders the test consortium deploys with

        def rotate(from_block: int | None = None) -> CaRotation:
            return rotate_sm2_ca(
                root, PASS, load_description(root), chain.trust, chain.registry, chain.signers["alpha"], "alpha",
                from_block=from_block, now=NOW,
            )  # fmt: skip

        def lost(*args: object, **kwargs: object) -> None:  # the run stops at this transaction
            raise ConnectionError("the chain went away")

        with monkeypatch.context() as patched:  # staged, nothing on chain
            patched.setattr(chain.trust, "add_key", lost)
            with pytest.raises(ConnectionError):
                rotate()
        assert files.staged() and chain.trust.records("alpha") == records
        before = _snapshot(root)
        with pytest.raises(CaRotationError, match=r"staged already .* if it never reached the chain"):
            rotate()
        assert _snapshot(root) == before and chain.trust.records("alpha") == records
        files.next_cert.unlink()
        files.next_key.unlink()

        head = int(backend.web3.eth.block_number)
        with monkeypatch.context() as patched:  # both CAs recorded, the old one's record left open
            patched.setattr(chain.trust, "retire_key", lost)
            with pytest.raises(ConnectionError):
                rotate(from_block=head + 10)
        old_record, new_record = chain.trust.records("alpha")[len(records) :]
        assert old_record.valid_until is None and new_record.valid_from == head + 10
        before = _snapshot(root)
        with pytest.raises(CaRotationError, match=rf"is staged already: its new CA .* is valid from block {head + 10}"):
            rotate()
        retired = chain.trust.record("alpha", old_record.index)
        assert retired is not None and retired.valid_until == head + 10 + DEFAULT_OVERLAP_BLOCKS
        assert _snapshot(root) == before and files.staged()

        backend._tester.mine_blocks(head + 10 - int(backend.web3.eth.block_number))
        done = rotate()
        assert done.installed and done.old_index == old_record.index and done.new_index == new_record.index
        assert done.old_valid_until == head + 10 + DEFAULT_OVERLAP_BLOCKS and not files.staged()
    finally:
        backend.close()
