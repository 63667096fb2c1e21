"""A firm's key publication signed with no chain and checked by the member that relays it (``network.keyrelay``):
what the signed bytes say is what the file says, and every way a file could make a member send something else is
refused before anything is sent. The relay through a node serving members only runs in
tests/integration/cli/test_up_rpc_tls.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from eth_account import Account

from chain.contracts.trust import KeyKind, add_key_calldata, parse_add_key_calldata
from chain.errors import MalformedError
from chain.ids import OrgId, Role
from chain.tx import FREE_GAS
from network.description import ConsortiumDescription
from network.identity import load_account_key
from network.keyrelay import (
    FORMAT,
    GAS,
    KeyPublication,
    KeyRelayError,
    SignedKey,
    check_publication,
    read_publication,
    sign_publication,
    write_publication,
)
from tests.unit.network.test_crypto_suite import PASS, consortium

ORG = OrgId("globex")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ConsortiumDescription]:
    root = tmp_path_factory.mktemp("relay")
    return root, consortium(root, "intl")


def signed(world: tuple[Path, ConsortiumDescription], **kw: object) -> KeyPublication:
    root, description = world
    return sign_publication(root, description, ORG, Role.MEMBER | Role.WITNESS, PASS, **kw)  # type: ignore[arg-type]


def raw_tx(world: tuple[Path, ConsortiumDescription], org: str = "globex", **fields: object) -> bytes:
    """A transaction of ``org``'s account: a valid add_key of the TrustDirectory unless ``fields`` say otherwise."""
    root, description = world
    tx: dict[str, object] = {
        "to": description.contracts["TrustDirectory"],
        "data": "0x" + add_key_calldata(KeyKind.GATEWAY_KEY, b"k" * 32).hex(),
        "value": 0,
        "gas": GAS,
        "chainId": description.chain_id,
        "type": 2,
        "nonce": 0,
        **FREE_GAS,
        **fields,
    }
    account = Account.from_key(load_account_key(root, OrgId(org), PASS))
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_the_publication_holds_the_firms_keys_each_an_add_key_of_its_account(
    world: tuple[Path, ConsortiumDescription], tmp_path: Path
) -> None:
    publication = signed(world, endpoint=b"http://127.0.0.1:9")
    kinds = [k.kind for k in publication.keys]
    assert kinds == [
        KeyKind.CA_CERT,
        KeyKind.ACCOUNT,
        KeyKind.GATEWAY_KEY,
        KeyKind.WITNESS_KEY,
        KeyKind.WITNESS_ENDPOINT,
    ]
    assert check_publication(publication, world[1]) == 0
    account = Account.from_key(load_account_key(world[0], ORG, PASS)).address
    assert publication.account == account
    assert publication.keys[1].value == bytes.fromhex(account[2:])
    # written and read back, the kinds and values come from the signed bytes
    path = tmp_path / "keys.json"
    write_publication(path, publication)
    assert read_publication(path) == publication
    with pytest.raises(FileExistsError):
        write_publication(path, publication)
    assert check_publication(signed(world, nonce=7), world[1]) == 7


def test_the_calldata_round_trips_and_other_calls_are_refused() -> None:
    data = add_key_calldata(KeyKind.CA_CERT, b"\x30" * 700, 12)
    assert parse_add_key_calldata(data) == (KeyKind.CA_CERT, b"\x30" * 700, 12)
    with pytest.raises(MalformedError, match=r"not a call of TrustDirectory\.add_key"):
        parse_add_key_calldata(b"\x12\x34\x56\x78" + data[4:])
    with pytest.raises(MalformedError, match="does not decode"):
        parse_add_key_calldata(data[:40])


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("other-chain", "the publication is for chain id 4712"),
        ("other-directory", "the publication is for TrustDirectory 0x"),
        ("another-signer", "is signed by 0x"),
        ("nonce-gap", "has nonce 5, not 1: the nonces must follow on"),
        ("not-the-directory", "is not sent to the TrustDirectory"),
        ("pays-gas", "moves value or pays for gas"),
        ("moves-value", "moves value or pays for gas"),
        ("tx-for-another-chain", "is for chain id 1"),
    ],
)
def test_a_publication_a_member_must_not_send_is_refused(
    world: tuple[Path, ConsortiumDescription], case: str, reason: str
) -> None:
    publication = signed(world)
    description = world[1]
    first = publication.keys[0]
    if case == "other-chain":
        publication = dataclasses.replace(publication, chain_id=4712)
    elif case == "other-directory":
        publication = dataclasses.replace(publication, trust_directory="0x" + "99" * 20)
    else:
        raw = {
            "another-signer": lambda: raw_tx(world, "acme", nonce=1),
            "nonce-gap": lambda: raw_tx(world, nonce=5),
            "not-the-directory": lambda: raw_tx(world, to="0x" + "77" * 20, nonce=1),
            "pays-gas": lambda: raw_tx(world, nonce=1, maxFeePerGas=1),
            "moves-value": lambda: raw_tx(world, nonce=1, value=1),
            "tx-for-another-chain": lambda: raw_tx(world, nonce=1, chainId=1),
        }[case]()
        publication = dataclasses.replace(publication, keys=(first, SignedKey(KeyKind.GATEWAY_KEY, b"k" * 32, raw)))
    with pytest.raises(KeyRelayError, match=reason):
        check_publication(publication, description)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"format": "other"}, "not a key publication"),
        ({"org": "Not An Org"}, "org: "),
        ({"chain_id": "20261"}, "chain_id: missing or not a int"),
        ({"transactions": []}, "transactions: give 1 to 16, not 0"),
        ({"transactions": [{"raw": "0xzz"}]}, r"transactions\[0\].raw is not hex"),
        ({"transactions": [{"raw": "00"}]}, r"transactions\[0\].raw: give the signed transaction as 0x-hex"),
        ({"transactions": [{"raw": "0x02c0"}]}, r"transactions\[0\] is not a signed EIP-1559 transaction"),
        ({"transactions": ["x"]}, r"transactions\[0\].raw: give"),
    ],
)
def test_a_file_that_is_not_a_publication_is_refused_naming_the_field(
    world: tuple[Path, ConsortiumDescription], tmp_path: Path, document: dict[str, object], reason: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({**signed(world).to_json(), **document}))
    with pytest.raises(KeyRelayError, match=reason):
        read_publication(path)


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(b"\xff not json")
    with pytest.raises(KeyRelayError, match="cannot be read as a key publication"):
        read_publication(path)


def test_the_non_add_key_call_of_the_firms_account_is_refused_when_read(
    world: tuple[Path, ConsortiumDescription], tmp_path: Path
) -> None:
    other = raw_tx(world, data="0xdeadbeef")
    document = signed(world).to_json()
    document["transactions"] = [{"kind": "gateway-key", "raw": "0x" + other.hex()}]
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(document))
    with pytest.raises(KeyRelayError, match=r"transactions\[0\]: not a call of TrustDirectory.add_key"):
        read_publication(path)
    assert FORMAT in path.read_text()
