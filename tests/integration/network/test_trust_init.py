"""``consortium init`` writes the founders' keys into the TrustDirectory, so the chain holds the trust that
``consortium.json`` lists; a chain node process serves it, and the follower reads it over a lean connection (as
the gateway and the notary do), including block times for the validity of a key at a moment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.backend import RpcBackend
from chain.contracts import KeyKind, TrustDirectoryClient
from chain.ids import OrgId, Role
from chain.trustview import TrustView
from chain.tx import Signer
from cli.main import cli
from network.config import parse_config
from network.consortium import init_consortium
from network.description import ConsortiumDescription, load_description
from network.identity import create_org_identity, issue_identity, load_account_key, load_user_key, user_paths
from network.localchain import LocalChain, start_node
from network.logins import Authenticator, LoginError, make_token
from network.trust import has_directory, trust_view
from tests.support.small_consortium import three_member_config
from tests.support.wait import wait_until

PASSPHRASE = b"trust-init-passphrase-1"
CHAIN_ID = 20267
CONFIG = three_member_config("trust-test", CHAIN_ID)
CONFIG["members"][2]["witness_url"] = "https://witness.reg.example:8551"  # reg's witness served elsewhere


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ConsortiumDescription, LocalChain]]:
    directory = tmp_path_factory.mktemp("trust") / "consortium"
    init_consortium(directory, parse_config(CONFIG), PASSPHRASE)
    chain = start_node(directory, CHAIN_ID, PASSPHRASE, block_time=0.05)
    try:
        yield directory, load_description(directory), chain
    finally:
        chain.stop()


@pytest.fixture(scope="module")
def view(consortium: tuple[Path, ConsortiumDescription, LocalChain]) -> Iterator[TrustView]:
    _, description, chain = consortium
    followed = trust_view(description, chain.url, poll_s=0.05)
    followed.start()
    yield followed
    followed.stop()


def test_the_chain_holds_the_keys_of_consortium_json(
    consortium: tuple[Path, ConsortiumDescription, LocalChain], view: TrustView
) -> None:
    _, description, _ = consortium
    assert has_directory(description)
    snapshot = view.snapshot
    assert snapshot is not None
    assert snapshot.orgs() == [m.org for m in description.members]
    for member in description.members:
        identity = member.identity
        ca = x509.load_pem_x509_certificate(identity.ca_cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        assert view.ca_certs(member.org) == [ca]
        assert view.gateway_keys(member.org) == [identity.gateway_public_key]
        assert view.keys(KeyKind.ACCOUNT, member.org) == [bytes.fromhex(identity.account[2:])]
        assert view.keys(KeyKind.WITNESS_KEY, member.org) == [identity.witness_public_key]
        expected_log = [identity.notary_public_key] if Role.NOTARY in member.roles else []
        assert view.keys(KeyKind.LOG_KEY, member.org) == expected_log
        assert all(r.valid_from == 0 and r.valid_until is None for r in snapshot.records[member.org])
    # each witness of the policy at the URL `consortium up` (default port) serves it on, in the policy's order,
    # or at the consortium file's witness_url
    assert {org: view.keys(KeyKind.WITNESS_ENDPOINT, org) for org in ("op", "alpha", "reg")} == {
        "op": [b"http://127.0.0.1:8551"],
        "alpha": [b"http://127.0.0.1:8552"],
        "reg": [b"https://witness.reg.example:8551"],
    }


def test_a_key_was_valid_at_a_moment(
    consortium: tuple[Path, ConsortiumDescription, LocalChain], view: TrustView
) -> None:
    """Moments are the chain's block timestamps (sealed quickly, blocks may run ahead of the wall clock)."""
    _, description, chain = consortium
    gateway = description.member("alpha").identity.gateway_public_key
    backend = RpcBackend(chain.url)
    view.refresh()
    head = view.head
    stamps = {n: backend.block_timestamp(n) for n in (0, 1, head)}
    assert view.block_at_time(stamps[head]) == head
    assert view.block_at_time(stamps[1] - 1) == 0  # each block at least a second after its parent
    assert view.block_at_time(stamps[0] - 1) is None
    assert view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, gateway, stamps[head])
    assert view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, gateway, stamps[0])  # genesis records: block 0 on
    assert not view.was_valid_at_time("alpha", KeyKind.GATEWAY_KEY, b"\0" * 32, stamps[head])


def test_an_explorer_login_is_refused_once_its_serial_is_revoked_on_chain(
    consortium: tuple[Path, ConsortiumDescription, LocalChain], view: TrustView
) -> None:
    """The explorer's logins follow the directory: a person's certificate revoked on chain by its firm is
    refused from the block that revokes it, with no CRL file and no restart."""
    directory, description, chain = consortium
    org = OrgId("alpha")
    issue_identity(directory, org, "carol", PASSPHRASE, role="compliance", org_roles=description.member(org).roles)
    paths = user_paths(directory, org, "carol")
    token = make_token(paths.cert.read_bytes(), load_user_key(directory, org, "carol", PASSPHRASE))
    auth = Authenticator(directory, regulator_orgs={"reg"}, trust=view)
    assert auth.authenticate(f"Bearer {token}").org == "alpha"
    serial = x509.load_pem_x509_certificate(paths.cert.read_bytes()).serial_number
    client = TrustDirectoryClient(RpcBackend(chain.url), description.contracts["TrustDirectory"])
    client.revoke_serial(Signer.from_key(load_account_key(directory, org, PASSPHRASE)), serial)
    block = int(client.backend.web3.eth.block_number)
    wait_until(lambda: view.head >= block, f"the trust view to reach block {block}", 10, every=0.01)
    with pytest.raises(LoginError) as refused:
        auth.authenticate(f"Bearer {token}")
    assert refused.value.reason == "certificate_revoked"


def test_a_member_admitted_later_publishes_its_keys_with_the_cli(
    consortium: tuple[Path, ConsortiumDescription, LocalChain], view: TrustView, tmp_path: Path
) -> None:
    """`member propose admit`, then `member keys publish` by the newcomer: the followers see its CA and gateway
    key; `member keys revoke`, `retire`, `compromise` and `list` act on the directory."""
    directory, _, chain = consortium
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASSPHRASE)

    def run(*args: str) -> str:
        result = CliRunner().invoke(
            cli, ["--dir", str(directory), "--chain-url", chain.url, "--passphrase-file", str(passphrase), *args]
        )
        assert result.exit_code == 0, result.output
        return result.output

    identity = create_org_identity(directory, OrgId("delta"), "Delta Securities", PASSPHRASE)
    run("member", "propose", "admit", "delta", "--roles", "member,witness", "--as", "op")  # threshold 1: admitted
    published = run("member", "keys", "publish", "--as", "delta")
    assert "4 key(s) published for delta" in published and "no witness endpoint of delta on chain" in published
    assert "already on chain" in run("member", "keys", "publish", "--as", "delta")
    assert "added #4 witness-endpoint" in run(
        "member", "keys", "publish", "--witness-url", "http://127.0.0.1:8599", "--as", "delta"
    )
    view.refresh()
    assert view.gateway_keys("delta") == [identity.gateway_public_key]
    assert view.keys(KeyKind.WITNESS_ENDPOINT, "delta") == [b"http://127.0.0.1:8599"]
    assert len(view.ca_certs("delta")) == 1
    assert "revoked serial 0x1234 of delta" in run("member", "keys", "revoke", "0x1234", "--as", "delta")
    assert "retired #3 of delta" in run("member", "keys", "retire", "3", "--as", "delta")
    head = int(RpcBackend(chain.url).web3.eth.block_number)
    run("member", "keys", "compromise", "delta", "2", "--as-of-block", str(head), "--as", "reg")
    view.refresh()
    assert view.is_revoked("delta", 0x1234)
    assert view.gateway_keys("delta") == []
    moved = run("member", "keys", "add", "witness-endpoint", "--url", "https://witness.delta.example", "--as", "delta")
    assert "added #6 witness-endpoint of delta" in moved
    assert "retired #4 of delta" in run("member", "keys", "retire", "4", "--as", "delta")
    view.refresh()
    assert view.keys(KeyKind.WITNESS_ENDPOINT, "delta") == [b"https://witness.delta.example"]
    for bad in (
        ["witness-endpoint", "--url", "witness.delta.example"],
        ["witness-endpoint", "--hex", "00"],
        ["gateway-key", "--url", "https://x.example"],
    ):
        refused = CliRunner().invoke(
            cli,
            ["--dir", str(directory), "--chain-url", chain.url, "--passphrase-file", str(passphrase),
             "member", "keys", "add", *bad, "--as", "delta"],
        )  # fmt: skip
        assert refused.exit_code == 1 and "error:" in refused.output, refused.output
    listed = run("member", "keys", "list", "delta")
    assert "ca-cert" in listed and "O=Delta Securities" in listed and "compromised" in listed and "retired" in listed
    assert "https://witness.delta.example" in listed
    assert json.loads(run("member", "keys", "list", "delta", "--json"))[2]["state"] == "compromised"


def test_gateway_rotate_key_with_the_cli(
    consortium: tuple[Path, ConsortiumDescription, LocalChain], view: TrustView, tmp_path: Path
) -> None:
    """`gateway rotate-key`: the new key on chain beside the old one for the overlap, the key files replaced."""
    directory, description, chain = consortium
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASSPHRASE)
    old = next(m.identity.gateway_public_key for m in description.members if m.org == "alpha")
    args = ["--dir", str(directory), "--chain-url", chain.url, "--passphrase-file", str(passphrase)]
    result = CliRunner().invoke(
        cli, [*args, "gateway", "rotate-key", "--overlap-blocks", "1000", "--as", "alpha", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    new = bytes.fromhex(answer["new"]["public_key"])
    assert answer["old"]["public_key"] == old.hex() and new != old
    assert answer["old"]["valid_until"] == answer["new"]["valid_from"] + 1000
    assert (directory / "orgs" / "alpha" / "keys" / "gateway.pub").read_text().strip() == new.hex()
    view.refresh()
    assert set(view.gateway_keys("alpha")) == {old, new}  # the overlap
    refused = CliRunner().invoke(cli, [*args, "gateway", "rotate-key", "--from-block", "0", "--as", "alpha"])
    assert refused.exit_code != 0 and "in the past" in refused.output
