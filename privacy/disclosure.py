"""Set commitments and selective disclosure: prove that one identifier was, or was not, in a committed set.

A party commits to a set of normalised identifiers under a per-job VRF key (``privacy.vrf``, RFC 9381
ECVRF-EDWARDS25519-SHA512-TAI; under the national suite ``privacy.smvrf``, ECVRF-SM2-SM3-SSWU): each identifier
X becomes the leaf ``beta(X)``, the VRF output for ``alpha = job id ‖ 0x00 ‖ X``; the leaves are sorted by byte
value and the commitment is the RFC 9162 Merkle tree hash (§2.1.1, ``notary.log.hashing``, with SHA-256 or, under
``sm``, SM3) over their leaf hashes, with the count and the VRF public key. The VRF key's size names the suite
(``privacy.suites.suite_of_vrf_key``): 32 bytes Ed25519, 33 a compressed SM2 point.

A disclosure for X reveals X, its VRF proof (so anyone with the public key computes beta(X), and the party
cannot choose another leaf for X: full uniqueness) and

- member: the leaf equal to beta(X) with its RFC 9162 inclusion proof (§2.1.3);
- non-member: the two adjacent leaves around beta(X) (indices i and i + 1, the lower below and the upper above
  it, either missing at an end of the tree) with their inclusion proofs; for an empty set, nothing.

The auditor learns X, the set's size and beta of at most two other identifiers; VRF outputs are pseudorandom
without the secret key and the auditor holds no proof for any other input, so the neighbours cannot be inverted
or tested against a guess. Non-membership is sound only for a committer that sorted its leaves: the tree does
not prove its own order (``docs/privacy.md`` says why that fits the semi-honest model).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from notary.log import errors as log_errors
from notary.log.hashing import Hash32
from notary.log.proof import MemoryNodeReader, prove_inclusion, verify_inclusion
from privacy.errors import DisclosureError, MalformedError, VrfError
from privacy.identifiers import is_normal
from privacy.suites import INTL, PsiSuite, suite_of_vrf_key

Party = Literal["client", "server"]
SetName = Literal["input", "result"]
PARTIES: Final = ("client", "server")
SETS: Final = ("input", "result")


def vrf_input(job_id: str, identifier: str) -> bytes:
    """alpha for ``identifier`` in job ``job_id``: UTF-8 job id ‖ 0x00 ‖ UTF-8 normal form."""
    return job_id.encode("utf-8") + b"\x00" + identifier.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Commitment:
    """What the job record holds about one committed set: the VRF public key, the size and the Merkle root."""

    vrf_key: bytes
    count: int
    root: Hash32


@dataclass(frozen=True, slots=True)
class CommittedSet:
    """A party's own view of a committed set: the identifiers behind each sorted leaf (kept private)."""

    job_id: str
    vrf_secret: bytes
    leaves: tuple[bytes, ...]  # sorted VRF outputs
    identifiers: tuple[str, ...]  # identifiers[i] is the identifier of leaves[i]
    commitment: Commitment

    def subset(self, identifiers: Iterable[str]) -> CommittedSet:
        """The commitment to a subset (the result), under the same VRF key: no VRF is recomputed."""
        wanted = set(identifiers)
        pairs = [(leaf, i) for leaf, i in zip(self.leaves, self.identifiers, strict=True) if i in wanted]
        if len(pairs) != len(wanted):
            raise MalformedError("a subset names identifiers that are not in the committed set")
        return _build(self.job_id, self.vrf_secret, pairs, suite_of_vrf_key(self.commitment.vrf_key))


def _build(job_id: str, vrf_secret: bytes, pairs: list[tuple[bytes, str]], suite: PsiSuite) -> CommittedSet:
    pairs.sort()
    leaves = tuple(leaf for leaf, _ in pairs)
    root = suite.tree.root_of([suite.tree.leaf(leaf) for leaf in leaves])
    return CommittedSet(
        job_id=job_id,
        vrf_secret=vrf_secret,
        leaves=leaves,
        identifiers=tuple(identifier for _, identifier in pairs),
        commitment=Commitment(vrf_key=suite.vrf_public_key(vrf_secret), count=len(leaves), root=root),
    )


def commit_set(job_id: str, vrf_secret: bytes, identifiers: Iterable[str], suite: PsiSuite = INTL) -> CommittedSet:
    """Commit to distinct normalised ``identifiers`` under ``vrf_secret`` (one VRF evaluation each), with the VRF
    and the tree hash of ``suite``."""
    ids = list(identifiers)
    if len(set(ids)) != len(ids):
        raise MalformedError("a committed set must not repeat an identifier")
    output = suite.vrf_evaluator(vrf_secret)
    return _build(job_id, vrf_secret, [(output(vrf_input(job_id, i)), i) for i in ids], suite)


@dataclass(frozen=True, slots=True)
class LeafProof:
    """One leaf of a committed tree: its index, its value (a VRF output) and its RFC 9162 inclusion proof."""

    index: int
    value: bytes
    path: tuple[Hash32, ...]


@dataclass(frozen=True, slots=True)
class DisclosureProof:
    """A claim that ``identifier`` was (``member``) or was not in ``party``'s ``set`` of job ``job_id``."""

    job_id: str
    party: Party
    set: SetName
    identifier: str
    member: bool
    vrf_proof: bytes
    leaves: tuple[LeafProof, ...]

    @property
    def claim(self) -> str:
        verb = "was" if self.member else "was not"
        return f"{self.identifier} {verb} in the {self.party}'s {self.set} of job {self.job_id}"


def prove_disclosure(committed: CommittedSet, party: Party, set_name: SetName, identifier: str) -> DisclosureProof:
    """The proof, made by the holder of ``committed``, of whether ``identifier`` is in it."""
    if not is_normal(identifier):
        raise MalformedError(f"identifier {identifier!r} is not in normal form (privacy.identifiers)")
    suite = suite_of_vrf_key(committed.commitment.vrf_key)
    alpha = vrf_input(committed.job_id, identifier)
    pi = suite.vrf_prove(committed.vrf_secret, alpha)
    beta = suite.vrf_proof_to_hash(pi)
    leaves = committed.leaves
    size = len(leaves)
    pos = bisect.bisect_left(leaves, beta)
    member = pos < size and leaves[pos] == beta
    indices = [pos] if member else [i for i in (pos - 1, pos) if 0 <= i < size]
    tree = suite.tree
    reader = MemoryNodeReader([tree.leaf(leaf) for leaf in leaves], tree) if size else None
    proofs = []
    for index in indices:
        assert reader is not None
        path = tuple(prove_inclusion(index, size, reader, tree))
        proofs.append(LeafProof(index=index, value=leaves[index], path=path))
    return DisclosureProof(committed.job_id, party, set_name, identifier, member, pi, tuple(proofs))


def _check_leaf(claim: str, leaf: LeafProof, commitment: Commitment, suite: PsiSuite) -> None:
    tree = suite.tree
    try:
        verify_inclusion(tree.leaf(leaf.value), leaf.index, commitment.count, leaf.path, commitment.root, tree)
    except log_errors.VerificationError as exc:
        raise DisclosureError(claim, f"leaf {leaf.index} is not in the committed tree: {exc}") from exc


def verify_disclosure(proof: DisclosureProof, commitment: Commitment) -> bytes:
    """Check ``proof`` against the commitment the (verified) job record holds for its party and set.

    Returns beta(X), the identifier's VRF output. Raises DisclosureError unless the VRF proof gives beta(X) under
    the committed key and the leaves establish the claim: beta(X) at its index (member), or adjacent leaves below
    and above beta(X) (non-member).
    """
    claim = proof.claim
    if not is_normal(proof.identifier):
        raise DisclosureError(claim, "the identifier is not in normal form")
    try:
        suite = suite_of_vrf_key(commitment.vrf_key)
        beta = suite.vrf_verify(commitment.vrf_key, proof.vrf_proof, vrf_input(proof.job_id, proof.identifier))
    except (VrfError, MalformedError) as exc:
        raise DisclosureError(claim, f"the VRF proof does not verify: {exc}") from exc
    for leaf in proof.leaves:
        _check_leaf(claim, leaf, commitment, suite)
    if proof.member:
        _check_member(claim, proof.leaves, beta)
    else:
        _check_non_member(claim, proof.leaves, beta, commitment, suite)
    return beta


def _check_member(claim: str, leaves: Sequence[LeafProof], beta: bytes) -> None:
    if len(leaves) != 1:
        raise DisclosureError(claim, f"a membership proof shows exactly one leaf, not {len(leaves)}")
    if leaves[0].value != beta:
        raise DisclosureError(claim, f"leaf {leaves[0].index} is not the identifier's VRF output")


def _check_non_member(
    claim: str, leaves: Sequence[LeafProof], beta: bytes, commitment: Commitment, suite: PsiSuite
) -> None:
    size = commitment.count
    if size == 0:
        if leaves or commitment.root != suite.tree.empty_root:
            raise DisclosureError(claim, "an empty set shows no leaves and has the empty root")
        return
    lower = [leaf for leaf in leaves if leaf.value < beta]
    upper = [leaf for leaf in leaves if leaf.value > beta]
    if len(lower) + len(upper) != len(leaves) or len(lower) > 1 or len(upper) > 1 or not leaves:
        raise DisclosureError(claim, "a non-membership proof shows at most one leaf below and one above, no equal")
    low_index = lower[0].index if lower else -1
    high_index = upper[0].index if upper else size
    if high_index != low_index + 1:
        raise DisclosureError(claim, f"the leaves {low_index} and {high_index} around the output are not adjacent")
