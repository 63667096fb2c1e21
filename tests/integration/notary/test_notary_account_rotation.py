"""The account of the member that seals every block and runs the notary, rotated while its node and its notary run
(``identity rotate-account``): the node seals with the new key from the block after the old account's removal, the
notary's anchorer sends from the new account once the registry lists it, and evidence anchored before and after
verifies through the chain (``verify evidence``): the new account proven as the notary member's in the registry at
the anchor's parent block, the seals counted under the set that block names. Offline, where only the account
``consortium.json`` names counts, the evidence anchored after is refused, saying why.

A real node process (``consortium node``, alone: op is the one validator) and an in-process notary on loopback, the
world of ``test_evidence.py``, made here for this module alone (the rotation changes its accounts for good)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from chain.backend import RpcBackend
from network.accountrotation import rotate_account
from network.consortium import Consortium
from tests.integration.notary.test_evidence import PASSPHRASE, Ledger, ledger, marks, run_cli, shown

__all__ = ["ledger"]  # the module's own world, made by test_evidence.py's fixture

pytestmark = pytest.mark.process


def verify(ledger: Ledger, bundle: dict[str, object], path: Path, *options: str) -> tuple[int, str]:
    path.write_text(json.dumps(bundle), encoding="utf-8")
    r = run_cli("verify", "evidence", str(path), "--consortium", str(ledger.consortium_file), *options)
    return r.returncode, shown(r)


def anchored_bundle(ledger: Ledger) -> dict[str, object]:
    ids = ledger.submit(3)
    ledger.anchor(ledger.publish())
    return ledger.evidence(ids[0])


def sender(bundle: dict[str, object]) -> str:
    anchor = bundle["anchor"]
    assert isinstance(anchor, dict)
    return str(Account.recover_transaction(anchor["transaction"]["raw"])).lower()


def test_the_sealing_notary_members_account_rotates_while_its_node_and_notary_run(
    ledger: Ledger, tmp_path: Path
) -> None:
    old = ledger.description.member("op").identity.account.lower()
    before = anchored_bundle(ledger)
    assert sender(before) == old

    consortium = Consortium(ledger.directory, ledger.description, RpcBackend(ledger.chain.url))
    rotation = rotate_account(ledger.directory, PASSPHRASE, consortium.registry, consortium.trust, "op")
    new = rotation.new.lower()
    assert rotation.done[-2:] == ("removed", "installed") and new != old

    after = anchored_bundle(ledger)  # blocks sealed by the new key alone, the anchor sent from the new account
    assert sender(after) == new
    code, out = verify(ledger, after, tmp_path / "after.json", "--chain-url", ledger.chain.url)
    assert code == 0, out
    assert "an account of the notary's member op in the registry at block" in out, out
    assert set(marks(out).values()) == {"✓"}, out
    number = after["anchor"]["block"]["number"]  # type: ignore[index]
    assert f"counted under the set block {number - 1} names" in out, out

    code, out = verify(ledger, before, tmp_path / "before.json", "--chain-url", ledger.chain.url)
    assert code == 0 and set(marks(out).values()) == {"✓"}, out
    code, out = verify(ledger, after, tmp_path / "offline.json", "--offline")
    assert code == 1 and marks(out)["anchor transaction"] == "✗", out
    assert f"not the notary's account {ledger.description.member('op').identity.account}" in out, out
