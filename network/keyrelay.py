"""A newly admitted firm's keys, signed in its own directory and sent by a member: how a firm publishes its keys
when the consortium's nodes serve their JSON-RPC to members only.

Such a node completes a TLS handshake only with a certificate of a CA it trusts: those of ``consortium.json`` and
of the TrustDirectory. A firm admitted by vote has only its CA's fingerprint on chain (the admitting proposal's),
and only the firm's own account may add its CA certificate to the TrustDirectory (``add_key``), so the transaction
that would make the nodes trust it cannot reach them from the firm. The firm therefore signs its key publication
where it is (:func:`sign_publication`: one ``add_key`` transaction per key, nonces from its account's first, the
consortium's free gas), and hands the file to any member, who checks it (:func:`check_publication`: this chain,
this TrustDirectory, ``add_key`` calls only, each signed by the firm's account, consecutive nonces) and sends it
through its own node (:func:`relay`), after checking on chain that the account is the firm's and the firm an active
member. The member signs nothing and can change nothing: the transactions are the firm's, and the contract still
refuses any not sent by an active member's account. Once the block holding the CA record is read, the nodes admit
the firm's certificates, and it sends everything after itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chain.contracts.trust import KeyKind, add_key_calldata, parse_add_key_calldata
from chain.errors import MalformedError
from chain.ids import OrgId, Role, check_name
from chain.tx import FREE_GAS
from network.errors import NetworkError

if TYPE_CHECKING:
    from network.consortium import Consortium
    from network.description import ConsortiumDescription

FORMAT = "consortium-ledger/key-publication/v1"
#: Gas of each ``add_key``: the largest record (a CA certificate of at most 2,048 bytes, about 64 storage words)
#: takes about 1.5 million; the consortium's chain charges no gas and allows 1,000,000,000 a block.
GAS = 3_000_000
#: At most this many transactions in one file: a member's keys (CA, SM2 CA, account, gateway, witness, log) and an
#: endpoint or two.
MAX_TRANSACTIONS = 16


class KeyRelayError(NetworkError):
    """A key publication that cannot be signed, read or relayed; the message says why."""


@dataclass(frozen=True, slots=True)
class SignedKey:
    """One ``add_key`` transaction of the firm's: the key it adds and the signed bytes."""

    kind: KeyKind
    value: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class KeyPublication:
    """The firm's signed key publication, as :func:`sign_publication` writes it and a member relays it."""

    org: OrgId
    account: str
    chain_id: int
    trust_directory: str
    keys: tuple[SignedKey, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "org": self.org,
            "account": self.account,
            "chain_id": self.chain_id,
            "trust_directory": self.trust_directory,
            "transactions": [{"kind": k.kind.label, "raw": "0x" + k.raw.hex()} for k in self.keys],
        }

    @classmethod
    def from_json(cls, data: object) -> KeyPublication:
        """The document as written; :class:`KeyRelayError` naming the first field that is not. Each transaction's
        kind and value are read from its signed bytes (``kind`` in the file is for people), which
        :func:`check_publication` then checks."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeyRelayError(f"not a key publication (its format must be {FORMAT!r})")
        try:
            org = OrgId(check_name(_field(data, "org", str), "org id"))
        except MalformedError as exc:
            raise KeyRelayError(f"org: {exc}") from None
        account, chain_id = _field(data, "account", str), _field(data, "chain_id", int)
        directory, transactions = _field(data, "trust_directory", str), _field(data, "transactions", list)
        if not 0 < len(transactions) <= MAX_TRANSACTIONS:
            raise KeyRelayError(f"transactions: give 1 to {MAX_TRANSACTIONS}, not {len(transactions)}")
        keys = []
        for i, item in enumerate(transactions):
            raw = item.get("raw") if isinstance(item, dict) else None
            if not isinstance(raw, str) or not raw.startswith("0x"):
                raise KeyRelayError(f"transactions[{i}].raw: give the signed transaction as 0x-hex")
            try:
                signed = bytes.fromhex(raw[2:])
            except ValueError:
                raise KeyRelayError(f"transactions[{i}].raw is not hex") from None
            kind, value, _ = _decoded(signed, i)[1]
            keys.append(SignedKey(kind, value, signed))
        return cls(org, account, chain_id, directory, tuple(keys))


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise KeyRelayError(f"{name}: missing or not a {kind.__name__}")
    return value


def _decoded(raw: bytes, i: int) -> tuple[dict[str, Any], tuple[KeyKind, bytes, int], str]:
    """The transaction's fields, its ``add_key`` arguments and its sender; :class:`KeyRelayError` otherwise."""
    from eth_account import Account
    from eth_account.typed_transactions.typed_transaction import TypedTransaction
    from hexbytes import HexBytes

    try:
        fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        sender = str(Account.recover_transaction(raw))
    except Exception as exc:  # eth-account raises several kinds for bytes that are not a signed transaction
        raise KeyRelayError(f"transactions[{i}] is not a signed EIP-1559 transaction: {exc}") from None
    try:
        call = parse_add_key_calldata(bytes(fields.get("data", b"")))
    except MalformedError as exc:
        raise KeyRelayError(f"transactions[{i}]: {exc}") from None
    return fields, call, sender


def sign_publication(
    directory: Path,
    description: ConsortiumDescription,
    org: OrgId,
    roles: Role,
    passphrase: bytes,
    *,
    endpoint: bytes | None = None,
    nonce: int = 0,
) -> KeyPublication:
    """The keys of ``org``'s identity in ``directory`` (as ``member keys publish`` puts them: CA certificate,
    account, gateway key, its witness and log keys by ``roles``, its SM2 identity CA in an ``sm`` consortium, and
    its witness ``endpoint`` if given), each an ``add_key`` transaction signed with the org's account key, nonces
    from ``nonce`` (0: an account that never sent one, as a firm's right after admission), with no chain read."""
    from eth_account import Account

    from network.identity import load_account_key, load_org_public
    from network.trust import member_keys

    if "TrustDirectory" not in description.contracts:
        raise KeyRelayError("this consortium has no TrustDirectory: its keys are in consortium.json only")
    keys = member_keys(load_org_public(directory, org), roles, endpoint)
    account = Account.from_key(load_account_key(directory, org, passphrase))
    to = description.contracts["TrustDirectory"]
    signed = []
    for i, (kind, value) in enumerate(keys):
        tx = {
            "to": to,
            "data": "0x" + add_key_calldata(kind, value).hex(),
            "value": 0,
            "gas": GAS,
            "chainId": description.chain_id,
            "type": 2,
            "nonce": nonce + i,
            **FREE_GAS,
        }
        signed.append(SignedKey(kind, value, bytes(account.sign_transaction(tx).raw_transaction)))
    return KeyPublication(org, str(account.address), description.chain_id, to, tuple(signed))


def check_publication(publication: KeyPublication, description: ConsortiumDescription) -> int:
    """That every transaction of ``publication`` is an ``add_key`` of this consortium's TrustDirectory on its chain,
    signed by the publication's account, with no value, the consortium's free gas and consecutive nonces; returns
    the first nonce. :class:`KeyRelayError` naming the first that is not: nothing is sent then."""
    from eth_utils.address import to_checksum_address

    directory = description.contracts.get("TrustDirectory")
    if directory is None:
        raise KeyRelayError("this consortium has no TrustDirectory")
    if publication.chain_id != description.chain_id:
        raise KeyRelayError(
            f"the publication is for chain id {publication.chain_id}, this consortium's is {description.chain_id}"
        )
    if publication.trust_directory.lower() != directory.lower():
        raise KeyRelayError(f"the publication is for TrustDirectory {publication.trust_directory}, not {directory}")
    first = None
    for i, key in enumerate(publication.keys):
        fields, _, sender = _decoded(key.raw, i)
        if sender.lower() != publication.account.lower():
            raise KeyRelayError(f"transactions[{i}] is signed by {sender}, not the publication's account")
        if fields.get("chainId") != description.chain_id:
            raise KeyRelayError(f"transactions[{i}] is for chain id {fields.get('chainId')}")
        if to_checksum_address(bytes(fields.get("to") or b"\0" * 20)) != to_checksum_address(directory):
            raise KeyRelayError(f"transactions[{i}] is not sent to the TrustDirectory {directory}")
        if fields.get("value") != 0 or any(fields.get(k) != v for k, v in FREE_GAS.items()):
            raise KeyRelayError(f"transactions[{i}] moves value or pays for gas: the consortium's gas is free")
        nonce = int(fields["nonce"])
        if first is None:
            first = nonce
        elif nonce != first + i:
            raise KeyRelayError(f"transactions[{i}] has nonce {nonce}, not {first + i}: the nonces must follow on")
    assert first is not None  # from_json takes one transaction at least
    return first


@dataclass(frozen=True, slots=True)
class Relayed:
    kind: KeyKind
    index: int


def relay(publication: KeyPublication, consortium: Consortium) -> list[Relayed]:
    """Send the firm's checked transactions through ``consortium``'s chain and wait for them: the indexes of the
    keys they added. Refused before anything is sent: a publication :func:`check_publication` refuses, an account
    that is not the firm's on chain, a firm not an active member, an account whose next nonce is not the
    publication's first (sent before, or it has sent others since: sign again with ``--nonce``)."""
    from hexbytes import HexBytes

    from chain.ids import MemberStatus
    from chain.tx import wait_receipt

    first = check_publication(publication, consortium.description)
    registry, trust, backend = consortium.registry, consortium.trust, consortium.backend
    owner = registry.org_of(publication.account)
    if owner != publication.org:
        raise KeyRelayError(
            f"the account {publication.account} is {'no member' if owner is None else owner}'s on chain, not "
            f"{publication.org}'s"
        )
    info = registry.member(publication.org)
    if info is None or info.status != MemberStatus.ACTIVE:
        raise KeyRelayError(f"{publication.org} is not an active member on chain")
    pending = int(backend.web3.eth.get_transaction_count(backend.web3.to_checksum_address(publication.account)))
    if pending != first:
        on_chain = all(trust.find(publication.org, k.kind, k.value) is not None for k in publication.keys)
        if on_chain:
            raise KeyRelayError(f"every key of the publication is already on chain for {publication.org}")
        raise KeyRelayError(
            f"the account {publication.account} has sent {pending} transaction(s); the publication starts at nonce "
            f"{first}: sign it again from {pending} (--nonce {pending})"
        )
    hashes = [bytes(backend.web3.eth.send_raw_transaction(HexBytes(k.raw))) for k in publication.keys]
    out = []
    for key, tx_hash in zip(publication.keys, hashes, strict=True):
        receipt = wait_receipt(backend, tx_hash, "TrustDirectory.add_key")
        added = trust.decode_events(receipt, "KeyAdded")
        out.append(Relayed(key.kind, int(added[0]["args"]["index"])))
    return out


def write_publication(path: Path, publication: KeyPublication) -> None:
    """Write the publication to the new file ``path`` (created exclusively, readable by all: it holds no secret)."""
    from network._pem import write_file

    write_file(path, (json.dumps(publication.to_json(), indent=2) + "\n").encode(), 0o644)


def read_publication(path: Path) -> KeyPublication:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyRelayError(f"{path} cannot be read as a key publication: {exc}") from None
    try:
        return KeyPublication.from_json(data)
    except KeyRelayError as exc:
        raise KeyRelayError(f"{path}: {exc}") from None


__all__ = [
    "FORMAT",
    "GAS",
    "KeyPublication",
    "KeyRelayError",
    "Relayed",
    "SignedKey",
    "check_publication",
    "read_publication",
    "relay",
    "sign_publication",
    "write_publication",
]
