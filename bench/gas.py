"""Gas used by every state-changing contract function, measured from real receipts on eth-tester.

``python -m bench.gas`` prints a Markdown table (the one in the README) and writes ``bench/results/gas.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from web3.types import TxReceipt

from chain.backend import EthTesterBackend
from chain.contracts import AuditAnchorClient, FoundingMember, KeyKind, anchor_message, deploy_consortium
from chain.contracts.deploy import deploy_contract
from chain.contracts.grants import PrivateTerms
from chain.ids import AssetKind, OrgId, Role
from chain.tx import Signer
from contracts import load_artifact
from suite.sm2 import SM2PrivateKey

RESULTS = Path(__file__).resolve().parent / "results" / "gas.json"
D = b"\x22" * 32


def main() -> int:
    s = {o: Signer(account=Account.create()) for o in ("op", "alpha", "beta", "gamma", "reg", "newco", "extra")}
    backend = EthTesterBackend([x.address for x in s.values()])
    rows: list[tuple[str, str, int]] = []

    def record(contract: str, fn: str, receipt: TxReceipt) -> None:
        rows.append((contract, fn, int(receipt["gasUsed"])))

    founders = [
        FoundingMember(OrgId("op"), "Operator", Role.MEMBER | Role.OPERATOR | Role.NOTARY, D, (s["op"].address,)),
        FoundingMember(OrgId("alpha"), "Alpha", Role.MEMBER, D, (s["alpha"].address,)),
        FoundingMember(OrgId("beta"), "Beta", Role.MEMBER, D, (s["beta"].address,)),
        FoundingMember(OrgId("gamma"), "Gamma", Role.MEMBER, D, (s["gamma"].address,)),
        FoundingMember(OrgId("reg"), "Regulator", Role.REGULATOR | Role.WITNESS, D, (s["reg"].address,)),
    ]
    dep = deploy_consortium(backend, s["op"], founders, threshold=2)
    # Genesis, in block order: each deployment, then each call, named by its contract and decoded function.
    by_address = {address.lower(): name for name, address in dep.addresses.items()}
    decoders = {name: backend.web3.eth.contract(abi=load_artifact(name).abi) for name in dep.addresses}
    for number in range(1, int(backend.web3.eth.block_number) + 1):
        for tx_hash in backend.web3.eth.get_block(number)["transactions"]:
            receipt = backend.web3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            if receipt["contractAddress"]:
                record(by_address[str(receipt["contractAddress"]).lower()], "deploy", receipt)
                continue
            tx = backend.web3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            contract = by_address[str(tx["to"]).lower()]
            function, _ = decoders[contract].decode_function_input(tx["input"])
            record(contract, str(function.fn_name), receipt)
    reg, assets, grants, anchors = dep.registry(backend), dep.assets(backend), dep.grants(backend), dep.anchors(backend)
    pid_receipt = reg._transact(
        s["alpha"], "propose_admit", b"newco".ljust(32, b"\0"), "NewCo", int(Role.MEMBER), D, [s["newco"].address]
    )
    record("ConsortiumRegistry", "propose_admit", pid_receipt)
    pid = int(reg.decode_events(pid_receipt, "ProposalCreated")[0]["args"]["proposal_id"])
    record("ConsortiumRegistry", "approve (carries out admission)", reg._transact(s["beta"], "approve", pid))
    record("ConsortiumRegistry", "suspend (regulator)", reg._transact(s["reg"], "suspend", b"gamma".ljust(32, b"\0")))
    record(
        "ConsortiumRegistry", "reinstate (regulator)", reg._transact(s["reg"], "reinstate", b"gamma".ljust(32, b"\0"))
    )
    record("ConsortiumRegistry", "add_account", reg.add_account(s["alpha"], s["extra"].address))
    record("ConsortiumRegistry", "remove_account", reg.remove_account(s["alpha"], s["extra"].address))
    reg.add_account(s["alpha"], s["extra"].address)
    record("ConsortiumRegistry", "revoke_account (regulator)", reg.revoke_account(s["reg"], s["extra"].address))
    reg.add_account(s["alpha"], s["extra"].address)
    revoked = reg.revoke_account(s["reg"], s["extra"].address, "0x" + "ab" * 20)
    record("ConsortiumRegistry", "revoke_account (regulator, with a replacement)", revoked)
    record("ConsortiumRegistry", "set_certificate", reg.set_certificate(s["alpha"], b"\x33" * 32))
    record("DataAssetRegistry", "register_asset", assets.register_asset(s["alpha"], "feed-a", AssetKind.FEED, D, D, 2))
    record(
        "DataAssetRegistry",
        "add_version",
        assets._transact(s["alpha"], "add_version", b"feed-a".ljust(32, b"\0"), b"\x44" * 32, D, 3),
    )
    record("DataAssetRegistry", "add_center", assets.add_center(s["op"], "center-a", "Center A"))
    record("DataAssetRegistry", "add_unit", assets.add_unit(s["op"], "unit-a", "center-a", "Unit A"))
    record(
        "DataAssetRegistry",
        "register_api",
        assets.register_api(s["alpha"], "api-a", "unit-a", "/v1/a", "GET", "feed-a"),
    )
    now = int(backend.web3.eth.get_block("latest")["timestamp"])
    gid_receipt = grants._transact(
        s["alpha"],
        "create_grant",
        b"feed-a".ljust(32, b"\0"),
        b"beta".ljust(32, b"\0"),
        b"research".ljust(32, b"\0"),
        now,
        now + 86400,
        1000,
    )
    record("AccessGrants", "create_grant", gid_receipt)
    gid = bytes(grants.decode_events(gid_receipt, "GrantCreated")[0]["args"]["grant_id"])
    record("AccessGrants", "revoke", grants.revoke(s["alpha"], gid, 7))
    terms = PrivateTerms("feed-a", "alpha", "beta", "research", now, now + 86400, 1000, b"\x55" * 32)
    private_receipt = grants.submit_private_grant(s["alpha"], terms.asset, terms.key, terms.commitment)
    record("AccessGrants", "create_private_grant", private_receipt)
    private_id = grants.private_grant_id_of(private_receipt)
    record("AccessGrants", "revoke (a private grant)", grants.revoke(s["alpha"], private_id, 7))
    record("DataAssetRegistry", "offer_transfer", assets.offer_transfer(s["alpha"], "feed-a", "beta"))
    record("DataAssetRegistry", "accept_transfer", assets.accept_transfer(s["beta"], "feed-a"))
    record("DataAssetRegistry", "retire_api", assets.retire_api(s["alpha"], "api-a"))
    record("DataAssetRegistry", "retire_asset", assets.retire_asset(s["beta"], "feed-a"))
    record("AuditAnchor", "anchor (first of an origin)", anchors.anchor(s["op"], "log/a", 10, D, D))
    record("AuditAnchor", "anchor (next)", anchors.anchor(s["op"], "log/a", 20, D, D))
    # The same anchors of an `sm` log, checked against the log's SM2 signature (precompile 0x100a).
    log_key = SM2PrivateKey.generate()
    point = log_key.public_key().public_bytes()
    trust = dep.trust(backend)
    assert trust is not None
    trust.add_key(s["op"], KeyKind.LOG_KEY, point)
    for label, size in (("first of an origin", 10), ("next", 20)):
        sig = log_key.sign(anchor_message("log/b", size, D, D))
        receipt = anchors.anchor_signed(s["op"], "log/b", size, D, D, point, sig)
        record("AuditAnchor", f"anchor_signed ({label})", receipt)
    # An `sm` consortium's own AuditAnchor, deployed signed-only (deploy_consortium(..., signed_anchors=True)):
    # plain anchor is refused there, so these are the anchors such a consortium pays for.
    registry = dep.addresses["ConsortiumRegistry"]
    signed_only = AuditAnchorClient(backend, deploy_contract(backend, s["op"], "AuditAnchor", registry, True))
    for tx_hash in backend.web3.eth.get_block("latest")["transactions"]:
        receipt = backend.web3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        if str(receipt["contractAddress"]).lower() == signed_only.address.lower():
            record("AuditAnchor", "deploy (signed only, an sm consortium)", receipt)
    record("AuditAnchor", "set_trust_directory (signed only)", signed_only.set_trust_directory(s["op"], trust.address))
    for label, size in (("first of an origin", 10), ("next", 20)):
        sig = log_key.sign(anchor_message("log/c", size, D, D))
        receipt = signed_only.anchor_signed(s["op"], "log/c", size, D, D, point, sig)
        record("AuditAnchor", f"anchor_signed (signed only, {label})", receipt)
    print("| contract | function | gas used |\n|---|---|---:|")
    for contract, fn, gas in rows:
        print(f"| {contract} | {fn} | {gas:,} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([{"contract": c, "function": f, "gas": g} for c, f, g in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
