"""``network.accountrotation.rotate_account`` (``consortium identity rotate-account``) against the in-process chain
node, for a firm that joined later, from its own directory: the new account added to the member, recorded in the
TrustDirectory and the old one's record retired, the old account removed, the key file replaced; from then on the
node refuses the old account's transactions and takes the new one's. A run stopped between two steps is finished by
the next one. The refusals (a member not active, an account that is not the member's, a wrong passphrase), each
before anything is written or sent. A validator's rotation, its node sealing with the new
key from the block its set names it, runs against real nodes in ``tests/integration/chain/test_joined_node.py``."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from chain.contracts import KeyKind
from chain.contracts.registry import ConsortiumRegistryClient
from chain.errors import ContractRevertError
from chain.ids import OrgId
from chain.tx import Signer
from cli.main import cli
from network._pem import PRIVATE_FILE_MODE, encrypt
from network.accountrotation import AccountRotationError, rotate_account, staged_account_path
from network.identity import OrgPaths, load_account_key
from notary.durable import replace_file
from tests.support.consortium import Consortium, described, joined

PASS = b"account-rotation-passphrase"
JOINED = "delta"
JOINED_PASS = b"delta-own-passphrase"
STEPS = ("staged", "added", "recorded", "retired", "removed", "installed")

pytestmark = pytest.mark.parametrize("backend", [pytest.param("node")], indirect=True)


def _firm(c: Consortium, tmp_path: Path) -> tuple[Path, Signer]:
    founders_dir, firm_dir = tmp_path / "founders", tmp_path / "firm"
    founders = described(c, founders_dir, "acct", PASS)
    founders.write(founders_dir)
    _, signer = joined(c, founders, firm_dir, JOINED, JOINED_PASS)
    return firm_dir, signer


def _account_records(c: Consortium, value: str) -> list[tuple[int, int | None]]:
    raw = bytes.fromhex(value[2:])
    return [
        (r.valid_from, r.valid_until) for r in c.trust.records(JOINED) if r.kind is KeyKind.ACCOUNT and r.value == raw
    ]


def test_a_firm_rotates_its_account_and_the_old_one_is_refused_from_the_removal(
    consortium: Consortium, tmp_path: Path
) -> None:
    c = consortium
    firm, old = _firm(c, tmp_path)
    paths = OrgPaths.of(firm, OrgId(JOINED))
    r = rotate_account(firm, JOINED_PASS, c.registry, c.trust, JOINED)
    assert (r.old, r.done, r.found) == (old.address, STEPS, ())
    member = c.registry.member(JOINED)
    assert member is not None and member.accounts == (r.new,)
    assert c.registry.org_of(old.address) is None and c.registry.org_of(r.new) == JOINED
    [(_, old_until)] = _account_records(c, old.address)
    [(new_from, new_until)] = _account_records(c, r.new)
    assert old_until is not None and new_until is None and new_from <= old_until
    # the key file and its address replaced, the staged file gone
    new = Signer.from_key(load_account_key(firm, OrgId(JOINED), JOINED_PASS))
    assert new.address == r.new and paths.account_address.read_text().strip() == r.new
    assert stat.S_IMODE(paths.account_key.stat().st_mode) == PRIVATE_FILE_MODE
    assert not staged_account_path(firm, JOINED).exists()
    # the old account sends no more: the node refuses it; the new one does
    with pytest.raises(ContractRevertError, match=r"TrustDirectory\.revoke_serial: not a member"):
        c.trust.revoke_serial(old, 0x1234)
    assert c.trust.revoke_serial(new, 0x1234) >= 0


def test_a_rotation_stopped_between_two_steps_is_finished_by_the_next_run(
    consortium: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = consortium
    firm, old = _firm(c, tmp_path)
    key_before = OrgPaths.of(firm, OrgId(JOINED)).account_key.read_bytes()

    def lost(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the chain went away")

    remove = ConsortiumRegistryClient.remove_account
    monkeypatch.setattr(ConsortiumRegistryClient, "remove_account", lost)
    with pytest.raises(AccountRotationError, match="run the command again to finish it") as stopped:
        rotate_account(firm, JOINED_PASS, c.registry, c.trust, JOINED)
    assert str(staged_account_path(firm, JOINED)) in str(stopped.value)
    assert OrgPaths.of(firm, OrgId(JOINED)).account_key.read_bytes() == key_before  # the old key still the file's
    member = c.registry.member(JOINED)
    assert member is not None and len(member.accounts) == 2 and old.address in member.accounts
    monkeypatch.setattr(ConsortiumRegistryClient, "remove_account", remove)
    r = rotate_account(firm, JOINED_PASS, c.registry, c.trust, JOINED)
    assert (r.old, r.done, r.found) == (
        old.address,
        ("removed", "installed"),
        ("staged", "added", "recorded", "retired"),
    )
    member = c.registry.member(JOINED)
    assert member is not None and member.accounts == (r.new,)
    # stopped after the key file was replaced, before the staged file went: the next run only removes it
    staged = staged_account_path(firm, JOINED)
    replace_file(staged, OrgPaths.of(firm, OrgId(JOINED)).account_key.read_bytes(), PRIVATE_FILE_MODE)
    again = rotate_account(firm, JOINED_PASS, c.registry, c.trust, JOINED)
    assert (again.old, again.new, again.done) == (r.new, r.new, ("installed",)) and not staged.exists()


def test_the_command_rotates_from_the_firms_directory(consortium: Consortium, tmp_path: Path) -> None:
    c = consortium
    firm, old = _firm(c, tmp_path)
    passphrase = tmp_path / "delta.pass"
    passphrase.write_bytes(JOINED_PASS)
    url = c.backend.server.url  # type: ignore[attr-defined]
    base = ["--dir", str(firm), "--chain-url", url, "--passphrase-file", str(passphrase)]
    result = CliRunner().invoke(cli, [*base, "identity", "rotate-account", "--as", JOINED, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    answer = json.loads(result.output)
    assert answer["old"] == old.address and answer["done"] == list(STEPS), answer
    shown = CliRunner().invoke(cli, [*base, "member", "show", JOINED, "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["accounts"] == [answer["new"]], shown.output


@pytest.mark.parametrize("case", ["suspended", "not-the-members", "passphrase"])
def test_a_rotation_refused_writes_and_sends_nothing(consortium: Consortium, tmp_path: Path, case: str) -> None:
    c = consortium
    firm, old = _firm(c, tmp_path)
    paths = OrgPaths.of(firm, OrgId(JOINED))
    org, passphrase, reason = JOINED, JOINED_PASS, ""
    if case == "suspended":
        c.registry.suspend(c.signers["reg"], JOINED)
        reason = "is suspended on chain"
    elif case == "not-the-members":
        replace_file(
            paths.account_key, encrypt(ec.generate_private_key(ec.SECP256K1()), JOINED_PASS), PRIVATE_FILE_MODE
        )
        reason = "is no member's on chain, not delta's"
    else:
        passphrase = b"not-the-passphrase"
        reason = "cannot be used"
    before = c.registry.member(org)
    records = c.trust.record_count(org)
    with pytest.raises(AccountRotationError, match=reason):
        rotate_account(firm, passphrase, c.registry, c.trust, org)
    assert c.registry.member(org) == before and c.trust.record_count(org) == records
    assert not staged_account_path(firm, org).exists()
    assert c.registry.org_of(old.address) == JOINED


def test_a_leaked_account_is_revoked_by_a_regulator_for_the_one_the_firm_staged(
    consortium: Consortium, tmp_path: Path
) -> None:
    """The firm stages a new key (``identity rotate-account --stage``) and hands its address to the regulator, who
    declares the leaked account's record compromised with it as ``--replacement`` (``member keys compromise``):
    from that block the leaked account is no member's and the staged one is the firm's; the firm's next run
    finishes the rotation. Without the replacement, the firm's only account is not declared at all."""
    c = consortium
    firm, old = _firm(c, tmp_path)
    url = c.backend.server.url  # type: ignore[attr-defined]
    firm_pass, reg_pass = tmp_path / "delta.pass", tmp_path / "reg.pass"
    firm_pass.write_bytes(JOINED_PASS)
    reg_pass.write_bytes(PASS)
    at_firm = ["--dir", str(firm), "--chain-url", url, "--passphrase-file", str(firm_pass)]
    staged = CliRunner().invoke(cli, [*at_firm, "identity", "rotate-account", "--stage", "--as", JOINED, "--json"])
    assert staged.exit_code == 0, (staged.output, staged.exception)
    new = json.loads(staged.output)["new"]
    assert c.registry.org_of(new) is None and staged_account_path(firm, JOINED).is_file()

    regulator = tmp_path / "regulator"  # the founders' consortium.json and the regulator's account key
    regulator.mkdir()
    shutil.copy(tmp_path / "founders" / "consortium.json", regulator / "consortium.json")
    paths = OrgPaths.of(regulator, OrgId("reg"))
    paths.account_key.parent.mkdir(parents=True)
    key = ec.derive_private_key(int.from_bytes(bytes(c.signers["reg"].account.key), "big"), ec.SECP256K1())
    replace_file(paths.account_key, encrypt(key, PASS), PRIVATE_FILE_MODE)
    leaked = bytes.fromhex(old.address[2:])
    index = next(r.index for r in c.trust.records(JOINED) if r.kind is KeyKind.ACCOUNT and r.value == leaked)
    block = int(c.backend.web3.eth.block_number)
    compromise = ["--dir", str(regulator), "--chain-url", url, "--passphrase-file", str(reg_pass), "member", "keys",
                  "compromise", JOINED, str(index), "--as-of-block", str(block), "--as", "reg"]  # fmt: skip
    alone = CliRunner().invoke(cli, compromise)
    assert alone.exit_code == 1 and f"{old.address.lower()} is {JOINED}'s only account" in alone.output.lower()
    assert c.trust.records(JOINED)[index].valid_until is None  # nothing declared

    result = CliRunner().invoke(cli, [*compromise, "--replacement", new])
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"{new} is {JOINED}'s instead" in result.output, result.output
    assert c.registry.org_of(old.address) is None and c.registry.org_of(new) == JOINED
    assert c.trust.records(JOINED)[index].valid_until == block
    with pytest.raises(ContractRevertError, match="not a member"):
        c.trust.revoke_serial(old, 0x77)  # the leaked key's calls refused from that block

    finished = CliRunner().invoke(cli, [*at_firm, "identity", "rotate-account", "--as", JOINED, "--json"])
    assert finished.exit_code == 0, (finished.output, finished.exception)
    answer = json.loads(finished.output)
    assert answer["new"] == new and answer["done"] == ["recorded", "installed"], answer
    assert set(answer["found"]) == {"staged", "added", "retired", "removed"}, answer
    assert Signer.from_key(load_account_key(firm, OrgId(JOINED), JOINED_PASS)).address == new
