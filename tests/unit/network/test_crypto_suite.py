"""The suite a consortium chooses at ``consortium init --crypto``: its key files, its ``consortium.json``, and
``consortium up`` refusing keys of the other suite before it starts anything."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chain.errors import MalformedError
from chain.ids import OrgId, Role
from cli.main import cli
from contracts import CONTRACT_NAMES
from network._pem import encrypt
from network.description import ConsortiumDescription, MemberDescription, RetiredAnchor, load_description
from network.identity import (
    IdentityError,
    OrgPaths,
    PassphraseError,
    create_org_identity,
    load_gateway_key,
    load_notary_key,
    load_org_public,
    load_witness_key,
)
from network.logsetup import (
    LogSetupError,
    check_log_keys,
    log_verifier,
    log_vkey,
    read_access,
    roots_from_description,
    witness_verifiers,
    witness_vkey,
)
from notary.log.errors import MalformedError as NotaryMalformedError
from notary.log.smnote import SM2CosignatureVerifier, SM2NoteVerifier
from notary.logsuite import INTL, SM, public_bytes, suite_of_vkey
from notary.storage.sqlite import LogStore
from notary.submit.vault import SaltVault, Tombstone
from suite import _pkcs8, sm4
from suite.sm2 import SM2PrivateKey
from tests.support.clock import FIXED_NOW_S

PASS = b"suite test passphrase"
MEMBERS = {"acme": Role.MEMBER | Role.NOTARY | Role.WITNESS | Role.OPERATOR, "globex": Role.MEMBER | Role.WITNESS}
SM2_NOTE_TYPE = b"\xff" + b"consortium-ledger/sm2-note/v1"
SM2_COSIGNATURE_TYPE = b"\xff" + b"consortium-ledger/sm2-cosignature/v1"
SM4_CBC_OID = bytes.fromhex("06082a811ccf55016802")  # 1.2.156.10197.1.104.2 in DER


def consortium(root: Path, crypto: str) -> ConsortiumDescription:
    """Two members' identities in ``root`` under ``crypto`` and a consortium.json naming them (no chain)."""
    members = []
    for org, roles in MEMBERS.items():
        public = create_org_identity(root, OrgId(org), org.upper(), PASS, crypto=crypto)
        members.append(MemberDescription(OrgId(org), org.upper(), roles, public))
    description = ConsortiumDescription(
        name="suite-test",
        chain_id=4711,
        chain_kind="local",
        chain_url="http://127.0.0.1:9",
        contracts={name: "0x" + f"{n + 1:02x}" * 20 for n, name in enumerate(CONTRACT_NAMES)},
        deployed_at_block=0,
        admission_threshold=1,
        proposal_ttl_days=7,
        witness_policy={"threshold": 2, "witnesses": list(MEMBERS), "require_regulator": False},
        members=tuple(members),
        crypto=crypto,
    )
    description.write(root)
    return description


@pytest.fixture(scope="module")
def sm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sm")
    consortium(root, "sm")
    return root


def test_an_sm_identity_has_sm2_witness_gateway_and_log_keys(sm_root: Path) -> None:
    public = load_org_public(sm_root, OrgId("acme"))
    assert public.suite == "sm"
    loaders = {"witness": load_witness_key, "gateway": load_gateway_key, "notary": load_notary_key}
    for kind, load in loaders.items():
        key = load(sm_root, OrgId("acme"), PASS, "sm")
        assert isinstance(key, SM2PrivateKey), kind
        raw = public_bytes(key)
        assert len(raw) == 65 and raw[0] == 4
        assert raw == getattr(public, f"{kind}_public_key")
        pub_file = getattr(OrgPaths.of(sm_root, OrgId("acme")), f"{kind}_pub")
        assert pub_file.read_text() == raw.hex() + "\n"
        key_file = getattr(OrgPaths.of(sm_root, OrgId("acme")), f"{kind}_key")
        # stored as the other private keys are: encrypted PKCS#8, mode 0600, here with SM4 (PBES2, PBKDF2-HMAC-SM3)
        data = key_file.read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert SM2PrivateKey.from_pem(data, PASS).private_bytes() == key.private_bytes()
        der = base64.b64decode(b"".join(data.strip().splitlines()[1:-1]))
        assert SM4_CBC_OID in der
    # the CA, the admin's identity and the account stay what they are under intl
    assert "BEGIN CERTIFICATE" in public.ca_cert_pem and public.account.startswith("0x")


def test_the_wrong_passphrase_is_still_a_passphrase_error_for_an_sm2_key(sm_root: Path) -> None:
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_notary_key(sm_root, OrgId("acme"), b"not the passphrase")


def test_a_log_key_file_opened_again_unchanged_costs_no_second_pbkdf2_and_a_changed_one_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the operator's lower cost (suite.sm4.iterations_setting) reaches the key files identity creation writes
    monkeypatch.setenv("CONSORTIUM_KDF_ITERATIONS", "10000")
    create_org_identity(tmp_path, OrgId("initech"), "INITECH", PASS, crypto="sm")
    paths = OrgPaths.of(tmp_path, OrgId("initech"))
    assert bytes.fromhex("02022710") in base64.b64decode(b"".join(paths.witness_key.read_bytes().splitlines()[1:-1]))
    rounds: list[int] = []

    def counted(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
        rounds.append(iterations)
        return sm4.derive_key(passphrase, salt, iterations)

    monkeypatch.setattr(_pkcs8, "derive_key", counted)  # the real derivation, counted
    first = load_witness_key(tmp_path, OrgId("initech"), PASS, "sm")
    assert rounds == [10_000]
    assert public_bytes(load_witness_key(tmp_path, OrgId("initech"), PASS, "sm")) == public_bytes(first)
    assert rounds == [10_000]  # the second read of the unchanged file derived nothing
    with pytest.raises(PassphraseError, match="wrong passphrase"):  # another passphrase is tried, and refused
        load_witness_key(tmp_path, OrgId("initech"), b"not the passphrase", "sm")
    with pytest.raises(IdentityError, match="'intl'"):  # the suite is checked on every read
        load_witness_key(tmp_path, OrgId("initech"), PASS, "intl")
    replaced = SM2PrivateKey.generate()
    paths.witness_key.write_bytes(replaced.to_pem(PASS))
    assert public_bytes(load_witness_key(tmp_path, OrgId("initech"), PASS, "sm")) == public_bytes(replaced)


def test_an_sm_key_asked_for_under_intl_is_refused_naming_both_suites(sm_root: Path) -> None:
    with pytest.raises(IdentityError, match=r"holds an SM2 key of the 'sm' suite, but this consortium runs the 'intl'"):
        load_witness_key(sm_root, OrgId("globex"), PASS, "intl")


def test_consortium_json_records_the_suite_and_the_log_setup_follows_it(sm_root: Path) -> None:
    data = json.loads((sm_root / "consortium.json").read_text())
    assert data["crypto"] == "sm"
    description = load_description(sm_root)
    assert description.crypto == "sm" and description.suite is SM
    assert isinstance(log_verifier(description), SM2NoteVerifier)
    assert all(isinstance(v, SM2CosignatureVerifier) for v in witness_verifiers(description).values())
    vkey = log_vkey(description)
    assert suite_of_vkey(vkey) is SM
    assert base64_key(vkey).startswith(SM2_NOTE_TYPE)
    assert base64_key(witness_vkey(description, "globex")).startswith(SM2_COSIGNATURE_TYPE)
    assert isinstance(roots_from_description(description).log, SM2NoteVerifier)


def base64_key(vkey: str) -> bytes:
    return base64.b64decode(vkey.split("+", 2)[2])


def test_consortium_json_without_the_field_reads_as_intl(tmp_path: Path) -> None:
    consortium(tmp_path, "intl")
    data = json.loads((tmp_path / "consortium.json").read_text())
    assert data.pop("crypto") == "intl"
    (tmp_path / "consortium.json").write_text(json.dumps(data))
    description = load_description(tmp_path)
    assert description.crypto == "intl" and description.suite is INTL
    assert suite_of_vkey(log_vkey(description)) is INTL
    assert base64_key(log_vkey(description))[:1] == b"\x01"  # Ed25519 note key


def test_consortium_json_whose_keys_are_not_of_its_suite_is_refused(sm_root: Path) -> None:
    data = json.loads((sm_root / "consortium.json").read_text())
    with pytest.raises(MalformedError, match=r"crypto is 'intl', but member 'acme' has keys of the 'sm' suite"):
        ConsortiumDescription.from_json({**data, "crypto": "intl"})
    with pytest.raises(MalformedError, match=r"crypto must be 'intl' or 'sm', not 'sm9'"):
        ConsortiumDescription.from_json({**data, "crypto": "sm9"})


def test_up_refuses_an_intl_key_in_an_sm_consortium_before_starting_anything(tmp_path: Path) -> None:
    description = consortium(tmp_path, "sm")
    check_log_keys(tmp_path, description, PASS, gateway_orgs=list(MEMBERS))  # as created: accepted
    path = OrgPaths.of(tmp_path, OrgId("globex")).witness_key
    path.chmod(0o600)
    path.write_bytes(encrypt(Ed25519PrivateKey.generate(), PASS))
    with pytest.raises(LogSetupError, match=r"the witness key of globex: .* holds an Ed25519 key of the 'intl' suite"):
        check_log_keys(tmp_path, description, PASS)

    result = CliRunner().invoke(cli, ["up", str(tmp_path)], env={"CONSORTIUM_PASSPHRASE": PASS.decode()})
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the witness key of globex: "), result.stderr
    assert "but this consortium runs the 'sm' suite" in lines[0] and "SM2 keys" in lines[0], lines[0]
    assert "starting" not in result.stdout
    assert not (tmp_path / "chain").exists() and not (tmp_path / "witnesses").exists()


@pytest.mark.parametrize("name", ["CONSORTIUM_KDF_ITERATIONS", "CONSORTIUM_SM_KDF_ITERATIONS"])
@pytest.mark.parametrize("crypto", ["intl", "sm"])
def test_a_kdf_iterations_setting_out_of_range_stops_a_command_before_it_writes_anything(
    tmp_path: Path, name: str, crypto: str
) -> None:
    env = {"CONSORTIUM_PASSPHRASE": PASS.decode(), "CONSORTIUM_KDF_ITERATIONS": None, name: "5000"}
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "c"), "--demo", "--crypto", crypto], env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: ${name} is '5000': give a whole number of PBKDF2 iterations from 10,000 to 10,000,000 (unset: 200,000)"
    ], result.stderr
    assert not (tmp_path / "c").exists()


def test_up_refuses_a_log_key_that_is_not_the_one_consortium_json_lists(tmp_path: Path) -> None:
    description = consortium(tmp_path, "sm")
    path = OrgPaths.of(tmp_path, OrgId("acme")).notary_key
    path.chmod(0o600)
    path.write_bytes(SM2PrivateKey.generate().to_pem(PASS))
    with pytest.raises(LogSetupError, match=r"the notary key of acme: .* is not the key whose public key"):
        check_log_keys(tmp_path, description, PASS)
    # a store that holds no log yet (made, never started) is no started log: still consortium.json's key
    (tmp_path / "notary").mkdir(exist_ok=True)
    store = LogStore(tmp_path / "notary" / "notary.db")
    with pytest.raises(LogSetupError, match=r"the notary key of acme: .* is not the key whose public key"):
        check_log_keys(tmp_path, description, PASS)
    # once the log has started (its store records its key) the key may have been rotated on chain: the notary
    # checks that
    store.set_meta("vkey", "an earlier key")
    store.close()
    check_log_keys(tmp_path, description, PASS)
    path.write_bytes(encrypt(Ed25519PrivateKey.generate(), PASS))
    with pytest.raises(LogSetupError, match="the notary key of acme"):  # but never one of the other suite
        check_log_keys(tmp_path, description, PASS)


def test_identity_create_gives_a_new_firm_keys_of_the_consortiums_suite(tmp_path: Path) -> None:
    consortium(tmp_path, "sm")
    env = {"CONSORTIUM_PASSPHRASE": PASS.decode()}
    args = ["--dir", str(tmp_path), "identity", "create", "newco", "--name", "NewCo"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert load_org_public(tmp_path, OrgId("newco")).suite == "sm"
    assert isinstance(load_gateway_key(tmp_path, OrgId("newco"), PASS, "sm"), SM2PrivateKey)
    args = ["--dir", str(tmp_path), "identity", "create", "oldco", "--name", "OldCo", "--crypto", "intl"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert "runs the 'sm' suite: a firm joining it needs keys of that suite, not 'intl'" in result.stderr
    assert not (tmp_path / "orgs" / "oldco").exists()


def test_an_sm2_gateway_key_keeps_a_salt_vault_and_signs_shred_statements(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    now = float(FIXED_NOW_S)
    vault = SaltVault.for_gateway_key(tmp_path / "vault", "acme", key, clock=lambda: now)
    salt = vault.salt("event-1", int(now * 1000))
    again = SaltVault.for_gateway_key(tmp_path / "vault", "acme", key, clock=lambda: now)
    assert again.salt("event-1", int(now * 1000)) == salt and len(salt) == 32
    tombstone = Tombstone("acme", "2026-12-01", int(now * 1000), "compliance@acme")
    statement = tombstone.signed(key)
    assert Tombstone.from_signed(statement, public_bytes(key)) == tombstone
    with pytest.raises(NotaryMalformedError, match="not signed by its gateway key"):
        Tombstone.from_signed(statement, public_bytes(SM2PrivateKey.generate()))
    with pytest.raises(NotaryMalformedError, match="not signed by its gateway key"):
        Tombstone.from_signed(tombstone.signed(Ed25519PrivateKey.generate()), public_bytes(key))


def test_the_audit_policy_of_consortium_json_is_off_unless_set(sm_root: Path) -> None:
    """``audit.regulator_queries_visible_to_subject`` (docs/confidentiality.md): absent reads as off and is not
    written; true round-trips and reaches the notary's read access; anything but a boolean is refused."""
    data = json.loads((sm_root / "consortium.json").read_text())
    assert "audit" not in data
    assert not ConsortiumDescription.from_json(data).query_visibility().regulator_queries_visible_to_subject
    on = ConsortiumDescription.from_json({**data, "audit": {"regulator_queries_visible_to_subject": True}})
    assert on.query_visibility().regulator_queries_visible_to_subject
    assert on.query_visibility().regulators == frozenset()  # neither member has the regulator role
    assert ConsortiumDescription.from_json(on.to_json()) == on
    assert read_access(sm_root, on).visibility == on.query_visibility()
    with pytest.raises(MalformedError, match=r"audit.regulator_queries_visible_to_subject must be true or false"):
        ConsortiumDescription.from_json({**data, "audit": {"regulator_queries_visible_to_subject": "yes"}})


def test_the_retired_anchors_of_consortium_json_round_trip_and_reach_the_trust_roots(sm_root: Path) -> None:
    """``retired_anchors`` (``consortium notary migrate-anchor``): absent reads as none and is not written; a record
    round-trips and reaches the trust roots as (address, last size); a malformed one is refused, naming the field."""
    data = json.loads((sm_root / "consortium.json").read_text())
    assert "retired_anchors" not in data and ConsortiumDescription.from_json(data).retired_anchors == ()
    old = "0x" + "ab" * 20
    record = {"address": old, "last_size": 5, "last_root": "0x" + "cd" * 32}
    moved = ConsortiumDescription.from_json(
        {**data, "retired_anchors": [record, {**record, "last_size": 0, "last_root": None}]}
    )
    assert moved.retired_anchors == (RetiredAnchor(old, 5, b"\xcd" * 32), RetiredAnchor(old, 0, None))
    assert moved.to_json()["retired_anchors"][0] == record
    assert ConsortiumDescription.from_json(moved.to_json()) == moved
    assert roots_from_description(moved).retired_anchors == ((old, 5), (old, 0))
    refused = {
        "address must be a 0x-hex contract address": {**record, "address": "0xab"},
        "last_size must be a tree size": {**record, "last_size": -1},
        "last_size 5 needs the root of that anchor": {**record, "last_root": None},
        "last_root must be 0x and 64 hex digits": {**record, "last_root": "0x" + "cd" * 31},
        "each must be an object": "0x" + "ab" * 20,
    }
    for message, bad in refused.items():
        with pytest.raises(MalformedError, match=f"consortium.json: retired_anchors: {message}"):
            ConsortiumDescription.from_json({**data, "retired_anchors": [bad]})
    with pytest.raises(MalformedError, match="retired_anchors must be a list"):
        ConsortiumDescription.from_json({**data, "retired_anchors": record})
