"""``check_private_here`` (``chain.contracts.privatecheck``) answers exactly what ``AccessGrants.check_private``
answers, at the same block, for every verdict: allowed, wrong purpose, wrong grantee, altered terms (window,
quota, salt), not yet valid, expired, revoked, replaced by a newer grant, ownership changed, grantee or owner
suspended or no member, unknown or retired asset, a grant to the owner; and its requests carry none of the
terms' purpose, window, quota or salt, which ``check_private``'s do. On every chain of ``tests/conftest.py``
(eth-tester, anvil, the consortium's own node in this process)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.backend import RpcBackend
from chain.contracts import GrantStatus, PrivateTerms
from chain.contracts.grants import AccessGrantsClient
from chain.contracts.privatecheck import TrustedHeads, UnprovenError, check_private_here, head
from chain.ids import name_to_bytes32
from gateway.policy import ChainUnavailableError, ChainView
from network.grantterms import TermsRecord, TermsStore, decide
from network.keptheader import KeptHeaderFile
from tests.integration.contracts.contract_helpers import digest
from tests.integration.contracts.test_private_grants import private, register, terms
from tests.support.consortium import Consortium, NodeBackend, deploy_test_consortium
from tests.support.inprocess_rpc import Tamper
from tests.support.wait import wait_until
from tests.unit.chain.test_lightclient import extra_of, flip, tamper_proof, with_extra

#: Terms that differ from a grant's in one field each, and the times to ask at.
CHANGES: list[dict[str, Any]] = [
    {},
    {"purpose": "audit"},
    {"grantee": "gamma"},
    {"grantee": "reg"},  # a member without the member role
    {"grantee": "nobody"},  # no member at all
    {"grantee": "alpha"},  # the owner
    {"not_before": 1},
    {"expires_at": 2**40},
    {"quota": 7},
    {"salt": digest("another salt")},
    {"asset": "other-book"},
    {"asset": "nothing"},  # an unknown asset
]


def times(t: PrivateTerms, change: dict[str, Any]) -> list[int]:
    """The window's edges for the grant's own terms, its start for changed ones (the reads do not depend on the
    time: the window is the terms')."""
    if change:
        return [t.not_before]
    return [0, t.not_before - 1, t.not_before, t.expires_at - 1, t.expires_at, 2**64 - 1]


def same_everywhere(c: Consortium, grants: list[PrivateTerms]) -> set[GrantStatus]:
    """Compare both answers at the latest block for every grant's terms at every time, and for each change of the
    first grant's terms (one of the others'); the verdicts seen."""
    block = head(c.backend)
    seen: set[GrantStatus] = set()
    for i, t in enumerate(grants):
        for change in CHANGES if i == 0 else [{}, {"quota": 7}]:
            asked = replace(t, **change)
            for at in times(t, change):
                chain = c.grants.check_private(asked, at, block=block)
                here = check_private_here(c.grants, asked, at, block=block)
                assert here == chain, (change, at)
                seen.add(here.status)
    return seen


def test_every_verdict_is_the_contracts(consortium: Consortium) -> None:
    c = consortium
    alpha, reg = c.signers["alpha"], c.signers["reg"]
    first, _ = private(c)
    register(c, "alpha", "other-book")
    second, _ = private(c, replace(terms(c, purpose="audit", quota=3), salt=first.salt))  # same salt, other key
    to_owner, _ = private(c, replace(terms(c), grantee="alpha"))
    grants = [first, second, to_owner]
    seen = same_everywhere(c, grants)
    assert {
        GrantStatus.ALLOWED, GrantStatus.NOT_YET_VALID, GrantStatus.EXPIRED, GrantStatus.NO_GRANT,
        GrantStatus.TERMS_MISMATCH, GrantStatus.GRANTEE_NOT_MEMBER, GrantStatus.UNKNOWN_ASSET,
    } <= seen  # fmt: skip

    # a newer grant under the first one's key replaces it: the first terms mismatch, the new ones are allowed
    start = first.expires_at + 1000
    newer = replace(first, not_before=start, expires_at=start + 3600, quota=5)
    newer_id = c.grants.create_private_grant(alpha, newer)
    grants.append(newer)
    assert check_private_here(c.grants, first, first.not_before).grant_id == newer_id
    same_everywhere(c, grants)

    c.grants.revoke(alpha, newer_id, 4)
    assert GrantStatus.REVOKED in same_everywhere(c, grants)
    c.registry.suspend(reg, "beta")
    assert GrantStatus.GRANTEE_SUSPENDED in same_everywhere(c, grants)
    c.registry.reinstate(reg, "beta")
    c.registry.suspend(reg, "alpha")
    assert GrantStatus.OWNER_SUSPENDED in same_everywhere(c, grants)
    c.registry.reinstate(reg, "alpha")
    c.assets.offer_transfer(alpha, "book", "gamma")
    c.assets.accept_transfer(c.signers["gamma"], "book")
    assert GrantStatus.OWNERSHIP_CHANGED in same_everywhere(c, grants)
    c.assets.retire_asset(c.signers["gamma"], "book")
    assert GrantStatus.ASSET_RETIRED in same_everywhere(c, grants)


def test_an_earlier_block_is_answered_as_the_contract_answered_it_then(consortium: Consortium) -> None:
    c = consortium
    t, grant_id = private(c)
    before = head(c.backend)
    c.grants.revoke(c.signers["alpha"], grant_id, 2)
    for block in (before, head(c.backend)):
        assert check_private_here(c.grants, t, t.not_before, block) == c.grants.check_private(t, t.not_before, block)
    assert check_private_here(c.grants, t, t.not_before, before).allowed
    assert check_private_here(c.grants, t, t.not_before).status is GrantStatus.REVOKED


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grantee=st.sampled_from(["beta", "gamma", "alpha", "reg", "nobody"]),
    purpose=st.sampled_from(["research", "audit"]),
    shift=st.integers(-3, 3),
    quota=st.sampled_from([0, 1, 2**255]),
    salt=st.sampled_from([b"\x01" * 32, b"\x02" * 32]),
    at=st.integers(0, 2**64 - 1) | st.integers(1_700_000_000, 1_900_000_000),
)
def test_any_terms_at_any_time(
    consortium: Consortium, grantee: str, purpose: str, shift: int, quota: int, salt: bytes, at: int
) -> None:
    """Terms drawn around two grants on chain (their salts, grantees, purposes, windows and quotas mixed): the
    same answer as the contract's."""
    c = consortium
    if c.assets.asset("book") is None:
        register(c, "alpha", "book")
        for s, q in ((b"\x01" * 32, 0), (b"\x02" * 32, 1)):
            on_chain = PrivateTerms("book", "alpha", "beta", "research", 1_800_000_000, 1_800_086_400, q, s)
            c.grants.create_private_grant(c.signers["alpha"], on_chain)
    t = PrivateTerms("book", "alpha", grantee, purpose, 1_800_000_000 + shift, 1_800_086_400 + shift, quota, salt)
    block = head(c.backend)
    assert check_private_here(c.grants, t, at, block) == c.grants.check_private(t, at, block)


class _Recording(RpcBackend):
    """The same node, every JSON-RPC body it is sent kept."""

    def __init__(self, url: str, chain_id: int) -> None:
        super().__init__(url, chain_id=chain_id)
        self.sent: list[str] = []

    def _post(self, payload: Any, method: str, retries: int | None = None) -> Any:
        self.sent.append(json.dumps(payload))
        return super()._post(payload, method, retries)


def test_the_node_is_sent_no_term(consortium: Consortium) -> None:
    c = consortium
    url = getattr(c.backend, "url", None)
    if not isinstance(url, str):
        pytest.skip(f"{c.backend.description} runs in this process: there is no node to send anything to")
    t, _ = private(c)
    recording = _Recording(url, c.backend.chain_id)
    grants = AccessGrantsClient(recording, c.grants.address)
    assert check_private_here(grants, t, t.not_before).allowed
    here = "".join(recording.sent).lower()
    assert "eth_getstorageat" in here and "eth_call" in here  # the linked contracts' addresses, read once
    recording.sent.clear()
    assert check_private_here(grants, t, t.not_before).allowed
    here = "".join(recording.sent).lower()
    assert "eth_call" not in here
    secrets = {
        "salt": t.salt.hex(),
        "purpose": name_to_bytes32(t.purpose, "purpose").rstrip(b"\0").hex(),
        "not_before": f"{t.not_before:x}",
        "expires_at": f"{t.expires_at:x}",
        "commitment": t.commitment.hex(),
    }
    for what, word in secrets.items():
        assert word not in here, f"the {what} was sent to the node"
    recording.sent.clear()
    grants.check_private(t, t.not_before)  # the contract's own check: the node reads the terms
    sent = "".join(recording.sent).lower()
    assert secrets["salt"] in sent and secrets["purpose"] in sent and secrets["expires_at"] in sent


# -- proven words: the consortium's own node in this process --------------------------------------------------


@pytest.fixture(scope="module")
def node_consortium(_keys: Any) -> Iterator[Consortium]:
    """A consortium on the consortium's own node in this process (QBFT seals, ``eth_getProof``), for this
    module's proven checks (each makes its own grant)."""
    node = NodeBackend(_keys.deployer)
    try:
        yield deploy_test_consortium(node, _keys)
    finally:
        node.close()


class _Lying:
    """The node, through a ``Tamper`` (``tests.support.inprocess_rpc``): a node that lies in its answers."""

    def __init__(self, backend: RpcBackend, tamper: Tamper) -> None:
        self.backend, self.tamper = backend, tamper

    def request(self, method: str, params: list[Any]) -> Any:
        return self.batch([(method, params)])[0]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        answers = self.backend.batch(calls)
        return [self.tamper(m, p, a) for (m, p), a in zip(calls, answers, strict=True)]


def _founders(c: Consortium) -> set[bytes]:
    return {bytes.fromhex(c.deployer.address[2:])}


def test_proven_words_give_the_contracts_answer(node_consortium: Consortium) -> None:
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    first, grant_id = private(c)
    heads = TrustedHeads(c.backend, _founders(c))
    block = head(c.backend)
    for change in CHANGES:
        asked = replace(first, **change)
        for at in times(first, change):
            proven = check_private_here(c.grants, asked, at, block, proven=heads)
            assert proven == c.grants.check_private(asked, at, block=block), (change, at)
    assert check_private_here(c.grants, first, first.not_before, block, proven=heads).allowed
    assert heads.headers_checked == block  # each header from the genesis once, then none again
    c.grants.revoke(c.signers["alpha"], grant_id, 2)
    later = head(c.backend)
    assert check_private_here(c.grants, first, first.not_before, proven=heads).status is GrantStatus.REVOKED
    assert heads.headers_checked == later  # only the new headers
    assert check_private_here(c.grants, first, first.not_before, block, proven=heads).allowed  # an earlier block


def _storage_value(proof: dict[str, Any]) -> dict[str, Any]:
    return {**proof, "storageProof": [{**e, "value": hex(int(e["value"], 16) ^ 1)} for e in proof["storageProof"]]}


def _storage_node(proof: dict[str, Any]) -> dict[str, Any]:
    entries = [{**e, "proof": [*e["proof"][:-1], flip(e["proof"][-1], -1)]} if e["proof"] else e
               for e in proof["storageProof"]]  # fmt: skip
    return {**proof, "storageProof": entries}


def _unsealed(block: dict[str, Any]) -> dict[str, Any]:
    extra = extra_of(block)
    return with_extra(block, extra.with_seals(extra.round, ()))


@pytest.mark.parametrize(
    ("what", "tamper", "message"),
    [
        ("a tampered word", tamper_proof(_storage_value), r"DataAssetRegistry's storage at block \d+ is not proven"),
        ("a tampered proof node", tamper_proof(_storage_node), "is not the node its parent names"),
        ("no proof", lambda m, p, r: None if m == "eth_getProof" else r, "is not proven"),
        ("an unsealed header", lambda m, p, r: _unsealed(r) if m == "eth_getBlockByNumber" and p[0] != "0x0" else r,
         r"header is not accepted: block 1: 0 valid seal\(s\)"),
    ],
)  # fmt: skip
def test_words_a_node_cannot_prove_give_no_verdict(
    node_consortium: Consortium, tmp_path: Path, what: str, tamper: Tamper, message: str
) -> None:
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    t, _ = private(c)
    heads = TrustedHeads(_Lying(c.backend, tamper), _founders(c))
    with pytest.raises(UnprovenError, match=message):
        check_private_here(c.grants, t, t.not_before, proven=heads)
    store = TermsStore(tmp_path, "alpha")  # the rule the gateway and ``grant check`` apply fails the same way
    store.put(TermsRecord(t, None, 0))
    with pytest.raises(UnprovenError):
        decide(c.grants, store, t.asset, t.grantee, t.purpose, t.not_before, proven=heads)


def test_a_header_of_another_chain_is_refused(node_consortium: Consortium) -> None:
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    t, _ = private(c)
    heads = TrustedHeads(c.backend, {b"\x12" * 20})  # not this chain's founding validator
    with pytest.raises(UnprovenError, match="block 0: the genesis names the validators 0x"):
        check_private_here(c.grants, t, t.not_before, proven=heads)


def test_the_gateway_refuses_a_call_it_cannot_prove_and_caches_what_it_proved(
    node_consortium: Consortium, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``ChainView`` (the provider gateway's decisions, in this process): proven words decide and are cached; a
    node whose proofs do not verify gets the call refused (``ChainUnavailableError``) with a log line naming why,
    and nothing cached."""
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    t, _ = private(c)
    store = TermsStore(tmp_path, "alpha")
    store.put(TermsRecord(t, None, 0))
    heads = TrustedHeads(c.backend, _founders(c))
    good = ChainView(c.backend, c.grants.linked, "alpha", terms=store, proven=heads)
    lying = TrustedHeads(_Lying(c.backend, tamper_proof(_storage_value)), _founders(c))
    bad = ChainView(c.backend, c.grants.linked, "alpha", terms=store, proven=lying)
    good.start()
    bad.start()
    try:
        assert good.decide(t.asset, t.grantee, t.purpose, t.not_before).allowed
        checked = heads.headers_checked
        assert good.cached_decision(t.asset, t.grantee, t.purpose, t.not_before) is not None
        with caplog.at_level(logging.WARNING, logger="gateway.policy"), pytest.raises(ChainUnavailableError):
            bad.decide(t.asset, t.grantee, t.purpose, t.not_before)
        assert "refused: the chain's words are not proven: DataAssetRegistry's storage" in caplog.text
        assert bad.cached_decision(t.asset, t.grantee, t.purpose, t.not_before) is None
        assert good.decide(t.asset, t.grantee, t.purpose, t.not_before).allowed  # from the cache: no header read
        assert heads.headers_checked == checked
    finally:
        good.stop()
        bad.stop()


# -- the kept trusted header: the next checker resumes from the last header accepted ----------------------------


def _rpc(c: Consortium) -> RpcBackend:
    assert isinstance(c.backend, RpcBackend)
    return c.backend


def _kept(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_a_second_checker_resumes_from_the_kept_header(
    node_consortium: Consortium, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first checker follows from the genesis and keeps its newest header; the next one (a new run of ``grant
    check``, a gateway's next start) checks only the headers after it, seal by seal. Each says in its log where
    its walk starts."""
    caplog.set_level(logging.INFO, logger="chain.contracts.privatecheck")
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    t, _ = private(c)
    path = tmp_path / "verified-chain" / "header.json"
    first = TrustedHeads(c.backend, _founders(c), KeptHeaderFile(path))
    block = head(c.backend)
    assert check_private_here(c.grants, t, t.not_before, proven=first).allowed
    assert (first.resumed_from, first.headers_checked) == (None, block)  # from the genesis
    assert f"followed from the genesis: no header is kept in {path}" in caplog.text
    kept = _kept(path)
    genesis = c.backend.request("eth_getBlockByNumber", ["0x0", False])
    assert (kept["number"], kept["genesis"]) == (block, genesis["hash"])
    assert kept["hash"] == c.backend.request("eth_getBlockByNumber", [hex(block), False])["hash"]
    assert path.stat().st_mode & 0o777 == 0o600
    later_terms, _ = private(c, terms(c, purpose="audit"))  # more blocks
    later = head(c.backend)
    second = TrustedHeads(c.backend, _founders(c), KeptHeaderFile(path))
    assert check_private_here(c.grants, later_terms, later_terms.not_before, proven=second).allowed
    assert (second.resumed_from, second.headers_checked) == (block, later - block)  # only the new headers
    assert f"resume from block {block}, the header kept in {path}" in caplog.text
    assert _kept(path)["number"] == later
    # the kept header is a start only: a header after it that does not check is still refused, and not kept
    more, _ = private(c, terms(c, purpose="more"))
    newest = head(c.backend)
    unsealed: Tamper = lambda m, p, r: _unsealed(r) if m == "eth_getBlockByNumber" and p[0] == hex(newest) else r  # noqa: E731
    third = TrustedHeads(_Lying(c.backend, unsealed), _founders(c), KeptHeaderFile(path))
    with pytest.raises(UnprovenError, match=rf"block {newest}: 0 valid seal"):
        check_private_here(c.grants, more, more.not_before, newest, proven=third)
    assert third.resumed_from == later and _kept(path)["number"] == later


def _refused_kept(c: Consortium, path: Path, message: str) -> None:
    """A checker with the header kept in ``path`` gives no answer, says why, and leaves the file as it is."""
    before = path.read_bytes()
    t, _ = private(c, terms(c, purpose="refused-kept"))
    heads = TrustedHeads(_rpc(c), _founders(c), KeptHeaderFile(path))
    with pytest.raises(UnprovenError, match=rf"the kept trusted header {path} is refused: {message}.*move it aside"):
        check_private_here(c.grants, t, t.not_before, proven=heads)
    assert path.read_bytes() == before
    assert heads.headers_checked == 0


def _a_kept_header(c: Consortium, path: Path) -> dict[str, Any]:
    t, _ = private(c)
    assert check_private_here(
        c.grants, t, t.not_before, proven=TrustedHeads(_rpc(c), _founders(c), KeptHeaderFile(path))
    ).allowed
    return _kept(path)


def test_a_kept_header_of_another_chain_is_refused(node_consortium: Consortium, tmp_path: Path) -> None:
    c = node_consortium
    path = tmp_path / "header.json"
    kept = _a_kept_header(c, path)
    path.write_text(json.dumps({**kept, "genesis": "0x" + "ab" * 32}), encoding="utf-8")
    _refused_kept(c, path, "it is of another chain: its genesis is 0xabab")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "it is not JSON"),
        (b'{"format": "consortium-ledger/verified-checkpoint/v1"}', "it is not a kept header: its format is"),
        (None, "it is not a kept header: number must be a whole number"),
        (None, "it is not a kept header: hash must be 32 bytes"),
    ],
)
def test_a_malformed_kept_header_is_refused(
    node_consortium: Consortium, tmp_path: Path, content: bytes | None, message: str
) -> None:
    c = node_consortium
    path = tmp_path / "header.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        kept = {"format": "consortium-ledger/verified-header/v1", "genesis": "0x" + "00" * 32, "number": 1,
                "hash": "0x" + "00" * 32, "validators": ["0x" + "00" * 20], "timestamp": 0}  # fmt: skip
        kept.update({"number": -1} if "number" in message else {"hash": "0x1234"})
        content = json.dumps(kept).encode()
    path.write_bytes(content)
    _refused_kept(c, path, message)


@pytest.mark.parametrize("change", ["hash", "number", "validators"])
def test_a_tampered_kept_header_is_not_trusted(node_consortium: Consortium, tmp_path: Path, change: str) -> None:
    """Another hash for its number, its hash under another number, or other validators than its header names:
    the header the node serves at that number does not match, and nothing is proven from it."""
    c = node_consortium
    path = tmp_path / "header.json"
    kept = _a_kept_header(c, path)
    if change == "hash":
        kept["hash"] = _rpc(c).request("eth_getBlockByNumber", [hex(kept["number"] - 1), False])["hash"]
        message = rf"the node's chain does not lead through it: block {kept['number']}: hashes to 0x[0-9a-f]+, not the"
    elif change == "number":
        kept["number"] -= 1
        message = rf"the node's chain does not lead through it: block {kept['number']}: hashes to 0x[0-9a-f]+, not the"
    else:
        kept["validators"] = ["0x" + "12" * 20]
        message = rf"block {kept['number']}'s header names other validators than the kept ones"
    path.write_text(json.dumps(kept), encoding="utf-8")
    _refused_kept(c, path, message)


def test_the_gateway_follows_headers_in_the_background_and_keeps_the_newest(
    node_consortium: Consortium, tmp_path: Path
) -> None:
    """With private terms in its store, the gateway's chain view walks the headers to the polled head without a
    call asking (so the first private miss does not wait for it); it keeps the header of its first walk, then one
    every ``keep_every`` headers, and the newest as it stops."""
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    t, _ = private(c)
    store = TermsStore(tmp_path, "alpha")
    store.put(TermsRecord(t, None, 0))
    path = tmp_path / "gateway.verified-header.json"
    heads = TrustedHeads(c.backend, _founders(c), KeptHeaderFile(path), keep_every=10_000)
    view = ChainView(c.backend, c.grants.linked, "alpha", terms=store, proven=heads)
    block = head(c.backend)
    view.start()
    try:
        wait_until(lambda: path.exists() and _kept(path)["number"] >= block, "the first walk's header kept", 30)
        first = _kept(path)["number"]
        private(c, terms(c, purpose="background"))  # more blocks
        later = head(c.backend)
        wait_until(lambda: heads.newest is not None and heads.newest.number >= later, "the headers followed", 30)
        assert _kept(path)["number"] == first  # fewer than keep_every headers since: kept at the stop
    finally:
        view.stop()
    assert _kept(path)["number"] >= later


def test_a_kept_header_after_the_block_asked_for_is_checked_once_the_walk_passes_it(
    node_consortium: Consortium, tmp_path: Path
) -> None:
    """An earlier block than the kept header (or a node behind the one that served it) is followed from the
    genesis; the kept header is not written over, and a walk that passes its number must meet its hash."""
    c = node_consortium
    assert isinstance(c.backend, RpcBackend)
    path = tmp_path / "header.json"
    kept = _a_kept_header(c, path)
    t, _ = private(c, terms(c, purpose="after-kept"))
    earlier = kept["number"] - 1
    heads = TrustedHeads(c.backend, _founders(c), KeptHeaderFile(path))
    heads.at(earlier)
    assert (heads.resumed_from, heads.headers_checked, _kept(path)) == (None, earlier, kept)
    assert check_private_here(c.grants, t, t.not_before, proven=heads).allowed  # passes the kept one: checked
    assert _kept(path)["number"] == head(c.backend)
    path.write_text(json.dumps({**kept, "hash": "0x" + "00" * 32}), encoding="utf-8")
    forged = TrustedHeads(c.backend, _founders(c), KeptHeaderFile(path))
    forged.at(earlier)
    with pytest.raises(UnprovenError, match=rf"{path} is refused: the node's chain does not lead through it"):
        check_private_here(c.grants, t, t.not_before, proven=forged)
    assert _kept(path)["hash"] == "0x" + "00" * 32  # left as it is


def test_a_walk_in_steps_keeps_each_step(node_consortium: Consortium, tmp_path: Path) -> None:
    """``TrustedHeads.toward`` (the gateway's header follower): a long walk in steps of at most ``step`` headers,
    each accepted step kept, so a walk cut short (a gateway stopped mid-way) resumes from the last step."""
    c = node_consortium
    private(c)
    block = head(c.backend)
    path = tmp_path / "header.json"
    heads = TrustedHeads(_rpc(c), _founders(c), KeptHeaderFile(path))
    assert heads.toward(block, 3).number == 3 and _kept(path)["number"] == 3
    assert heads.toward(block, 3).number == 6 and _kept(path)["number"] == 6
    again = TrustedHeads(_rpc(c), _founders(c), KeptHeaderFile(path))
    assert again.at(block).number == block
    assert (again.resumed_from, again.headers_checked, _kept(path)["number"]) == (6, block - 6, block)
