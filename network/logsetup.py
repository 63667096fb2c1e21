"""The audit log of a consortium directory: its origin, key names, policy, and the settings of the notary and
of each witness, read from ``consortium.json`` and the member identities.

Names (C2SP signed-note key names) are derived from the consortium's short name, so every party computes the
same ones from the public description alone:

- log origin and notary key name: ``<consortium>/audit-log``
- a witness's key name: ``<consortium>/witness/<org id>``

The suite of the log (``consortium.json``'s ``crypto``, ``notary.logsuite``) fixes the tree hash, the anchored
digest and the type of the log, witness and gateway keys; every function here takes it from the description.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from chain.backend import RpcBackend
from chain.contracts import AuditAnchorClient
from chain.contracts.trust import KeyKind
from chain.ids import MemberStatus, OrgId, Role, endpoint_url
from chain.tx import Signer
from network.description import ConsortiumDescription, MemberDescription
from network.errors import NetworkError
from network.identity import (
    IdentityError,
    OrgPaths,
    check_log_key_suite,
    load_account_key,
    load_gateway_key,
    load_notary_key,
    load_witness_key,
)
from network.logins import Authenticator, LoginError
from notary.checkpointer import Witness, WitnessPolicy
from notary.errors import StoreError
from notary.log.cosignature import format_cosigner_vkey
from notary.log.smnote import SM2CosignatureVerifier
from notary.logkeys import LogKeys
from notary.logsuite import LogVerifier, PrivateKey, WitnessVerifier
from notary.readauth import ReadAccess, UnauthenticatedError

if TYPE_CHECKING:  # the notary's service and the evidence verifier: imported by what runs or checks a notary
    from chain.trustview import TrustSnapshot, TrustView
    from network.certificates import CallerAuthenticator
    from notary.anchor import ChainClient
    from notary.service import AnchorSettings, AnchorTiming, NotarySettings
    from notary.verify import TrustRoots

log = logging.getLogger("network.logsetup")

NOTARY_DIR = "notary"
WITNESS_DIR = "witnesses"


class LogSetupError(NetworkError):
    """The consortium cannot run its audit log as described (no notary, an unknown witness)."""


def log_origin(description: ConsortiumDescription) -> str:
    return f"{description.name}/audit-log"


def witness_name(description: ConsortiumDescription, org: str) -> str:
    return f"{description.name}/witness/{org}"


def notary_member(description: ConsortiumDescription) -> MemberDescription:
    """The member that runs the notary: the first one holding the notary role."""
    for member in description.members:
        if Role.NOTARY in member.roles:
            return member
    raise LogSetupError("no member of the consortium holds the notary role; give one the role 'notary'")


def log_verifier(description: ConsortiumDescription) -> LogVerifier:
    """The log's note key, of the consortium's suite (Ed25519 under ``intl``, SM2 under ``sm``)."""
    return description.suite.note_verifier(
        log_origin(description), notary_member(description).identity.notary_public_key
    )


def log_vkey(description: ConsortiumDescription) -> str:
    """The vkey of the log's note key, what witnesses and verifiers are configured with."""
    return description.suite.format_vkey(log_origin(description), notary_member(description).identity.notary_public_key)


def witness_orgs(description: ConsortiumDescription) -> tuple[str, ...]:
    """The orgs the policy of ``consortium.json`` names as witnesses; none when it names none."""
    return tuple(str(w) for w in description.witness_policy.get("witnesses", ()))


def witness_verifiers(description: ConsortiumDescription) -> dict[str, WitnessVerifier]:
    suite = description.suite
    return {
        org: suite.cosignature_verifier(
            witness_name(description, org), description.member(org).identity.witness_public_key
        )
        for org in witness_orgs(description)
    }


def witness_vkey(description: ConsortiumDescription, org: str, key: bytes | None = None) -> str:
    """The cosigner vkey of the witness of ``org`` with ``key`` (default: ``consortium.json``'s): C2SP
    tlog-cosignature's under ``intl``, the SM2 profile's under ``sm``."""
    name = witness_name(description, org)
    public_key = description.member(org).identity.witness_public_key if key is None else key
    if description.crypto == "sm":
        return SM2CosignatureVerifier(name, public_key).vkey()
    return format_cosigner_vkey(name, public_key)


def witness_policy(description: ConsortiumDescription) -> WitnessPolicy:
    policy = description.witness_policy
    regulators = frozenset(m.org for m in description.members if Role.REGULATOR in m.roles)
    return WitnessPolicy(
        threshold=int(policy["threshold"]),
        witnesses=witness_orgs(description),
        require_regulator=bool(policy["require_regulator"]),
        regulators=regulators,
    )


#: org → its roles on chain, None when it is not a member (the ConsortiumRegistry's answer).
RolesOf = Callable[[str], "Role | None"]


def chain_witness_urls(snapshot: TrustSnapshot, head: int) -> dict[str, str]:
    """org → the URL of its witness the directory lists valid at ``head``: of an active member only, the newest
    valid record when a move overlaps (the one added last), a record that is no usable URL skipped."""
    urls: dict[str, str] = {}
    for record in snapshot.valid(KeyKind.WITNESS_ENDPOINT, head):  # in index order: the last one wins
        url = endpoint_url(record.value)
        if url is not None and _active(snapshot, record.org):
            urls[record.org] = url
    return urls


def _active(snapshot: TrustSnapshot, org: str) -> bool:
    """A member the registry lists active (a snapshot read without statuses: every org with records)."""
    return snapshot.statuses is None or snapshot.statuses.get(org) == MemberStatus.ACTIVE


def chain_witness_keys(
    snapshot: TrustSnapshot,
    at_block: int,
    policy: WitnessPolicy,
    founders: Collection[str],
    roles_of: Callable[[str], Role],
) -> tuple[dict[str, list[bytes]], WitnessPolicy]:
    """The witness keys that count at block ``at_block`` as ``snapshot`` says, and the policy to count them under:
    the one selection the notary (:func:`chain_witness_set`), ``consortium verify``, the explorer and the SDK
    (:mod:`network.witnesskeys`) make (``docs/trust.md``, "Witnesses from the chain").

    - counted: the orgs ``policy`` names (``consortium.json``'s founders), and the orgs not among ``founders`` that
      hold the witness role (``roles_of``), each only while ``snapshot`` lists it an active member (a suspended
      member's witness counts for nothing; a snapshot read without statuses: every org) and a witness key of it is
      valid at ``at_block``; the threshold and ``require_regulator`` stay ``policy``'s, a joined regulator is one;
    - keys: org → every witness key of it valid at ``at_block``, in directory order (both keys of a rotation's
      overlap; a key retired or declared compromised before ``at_block``, or valid only from a later block, is
      not among them)."""
    keys: dict[str, list[bytes]] = {}
    for record in snapshot.valid(KeyKind.WITNESS_KEY, at_block):
        if _active(snapshot, record.org):
            keys.setdefault(record.org, []).append(record.value)
    counted = [org for org in policy.witnesses if keys.get(org)]
    joined = sorted(org for org in keys if org not in founders and Role.WITNESS in roles_of(org))
    regulators = policy.regulators | {o for o in joined if Role.REGULATOR in roles_of(o)}
    followed = dataclasses.replace(policy, witnesses=(*counted, *joined), regulators=regulators)
    return {org: keys[org] for org in followed.witnesses}, followed


def chain_witness_set(
    snapshot: TrustSnapshot,
    head: int,
    policy: WitnessPolicy,
    founders: Collection[str],
    roles_of: Callable[[str], Role],
    given_urls: Mapping[str, str],
    verifier: Callable[[str, bytes], WitnessVerifier],
) -> tuple[list[Witness], WitnessPolicy]:
    """The witnesses to ask and the policy to count them under, as ``snapshot`` says at block ``head``
    (``docs/trust.md``, "Witnesses from the chain"):

    - counted: the orgs ``policy`` names (the founders ``consortium.json`` names), and the orgs not among
      ``founders`` that hold the witness role (``roles_of``), each only while it is an active member with a
      witness key valid at ``head``; the threshold and ``require_regulator`` stay ``policy``'s;
    - asked: those of them with a URL, ``given_urls``'s (the command line's ``--witness``) when it has one, else
      the witness endpoint the directory lists valid at ``head``; a URL record retired drops the witness from the
      round after (unless the command line names it);
    - keys: every witness key of the org valid at ``head`` (both keys of a rotation's overlap)."""
    keys, followed = chain_witness_keys(snapshot, head, policy, founders, roles_of)
    urls = {**chain_witness_urls(snapshot, head), **given_urls}  # the command line wins
    witnesses = []
    for org in sorted(followed.witnesses):
        url = urls.get(org)
        if url is not None:
            first, *others = [verifier(org, key) for key in keys[org]]
            witnesses.append(Witness(org, url, first, tuple(others)))
    return witnesses, followed


class ChainWitnesses:
    """The witnesses the notary asks and counts, and the policy it publishes under, as the TrustDirectory says
    they are now (:func:`chain_witness_set`). Callable, as the checkpointer's follower: asked before each round,
    so the set follows the chain with no restart. Until the view has read the chain once: ``consortium.json``'s
    witnesses and policy, asked at ``urls`` (the command line's)."""

    def __init__(
        self, view: TrustView, description: ConsortiumDescription, urls: Mapping[str, str], roles_of: RolesOf
    ) -> None:
        self._view = view
        self._description = description
        self._urls = dict(urls)
        self._roles_of = roles_of
        self._policy = witness_policy(description)
        self._founders = frozenset(m.org for m in description.members)
        verifiers = witness_verifiers(description)
        self._fallback = tuple(Witness(o, u, verifiers[o]) for o, u in sorted(urls.items()) if o in verifiers)
        self._roles: dict[str, Role | None] = {}  # roles are fixed at admission: read once per org
        self._verifiers: dict[tuple[str, bytes], WitnessVerifier] = {}
        self._asked: dict[str, str] = {}

    def __call__(self) -> tuple[Sequence[Witness], WitnessPolicy]:
        snapshot = self._view.snapshot
        if snapshot is None:
            return self._fallback, self._policy
        witnesses, policy = chain_witness_set(
            snapshot, self._view.head, self._policy, self._founders, self._roles_now, self._urls, self._verifier
        )
        asked = {w.org: w.url for w in witnesses}
        if asked != self._asked:
            log.info(
                "witnesses asked: %s; counted: %s",
                ", ".join(f"{o} at {u}" for o, u in sorted(asked.items())) or "none",
                policy.describe(),
            )
            self._asked = asked
        return witnesses, policy

    def _roles_now(self, org: str) -> Role:
        if org not in self._roles:
            try:
                self._roles[org] = self._roles_of(org)
            except Exception as exc:  # the chain did not answer: not counted this round, asked again the next
                log.warning("roles of %s not read: %s: %s", org, type(exc).__name__, exc)
                return Role(0)
        return self._roles[org] or Role(0)

    def _verifier(self, org: str, key: bytes) -> WitnessVerifier:
        found = self._verifiers.get((org, key))
        if found is None:
            found = self._description.suite.cosignature_verifier(witness_name(self._description, org), key)
            self._verifiers[(org, key)] = found
        return found


def registry_roles(view: TrustView, description: ConsortiumDescription) -> RolesOf:
    """The roles of an org as the consortium's ConsortiumRegistry says, read through ``view``'s connection."""
    from chain.contracts.registry import ConsortiumRegistryClient

    registry = ConsortiumRegistryClient(view.client.backend, description.contracts["ConsortiumRegistry"])

    def roles_of(org: str) -> Role | None:
        member = registry.member(org)
        return None if member is None else member.roles

    return roles_of


class _LiveOrgs(Collection[str]):
    """The orgs ``answer`` gives, asked again at each question (a membership test, an iteration, a length)."""

    def __init__(self, answer: Callable[[], frozenset[str]]) -> None:
        self._answer = answer

    def __contains__(self, org: object) -> bool:
        return isinstance(org, str) and org in self._answer()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._answer()))

    def __len__(self) -> int:
        return len(self._answer())


class ChainRegulators(_LiveOrgs):
    """The orgs with the regulator role, as the notary's readers, the explorer's people checks and the query
    visibility rule (``notary.event.QueryVisibility``) are told: ``consortium.json``'s founders that hold it, and,
    once ``view`` has read the chain, any other org the ConsortiumRegistry gives the role (``roles_of``,
    :func:`registry_roles` by default) while the view's registry statuses list it a member: a regulator admitted
    after genesis reads as a regulator, not as an ordinary member. A founder counts only while the statuses list it
    a member too: one they list as no longer a member (removed), or do not list at all (the directory holds no
    record of it, so its status is not read: no active member for the people checks either,
    :class:`~network.trust.ChainMemberStatus`), is no regulator from the view's next read. Roles are fixed at
    admission, so an org's are read once; a read that fails counts the org as no regulator (fail closed) and is
    made again at the next question. Before the view has read the chain, the founders' only.

    The set is worked out once per snapshot of the view (:meth:`current`) and kept while every org's roles were
    read: asking it again, per row or per request, costs no chain read until the view reads a change.

    :meth:`holders` answers another question from the same reads: which orgs hold the role, whatever their status
    now (a removed regulator too). The query visibility rule asks that one (:func:`query_regulators`): a query was a
    regulator's when it was made, and a removed org's people log in no more, so it makes none after."""

    def __init__(self, view: TrustView, description: ConsortiumDescription, roles_of: RolesOf | None = None) -> None:
        super().__init__(self.current)
        self._view = view
        self._founders = frozenset(m.org for m in description.members)
        self._listed = frozenset(m.org for m in description.members if Role.REGULATOR in m.roles)
        self._roles_of = roles_of if roles_of is not None else registry_roles(view, description)
        self._roles: dict[str, Role] = {}  # roles are fixed at admission: read once per org
        # the sets worked out for a snapshot: the regulators now, and every holder of the role
        self._current: tuple[TrustSnapshot, frozenset[str], frozenset[str]] | None = None

    def current(self) -> frozenset[str]:
        """The regulators as the view's latest snapshot says (the founders' before it has one)."""
        return self._sets()[0]

    def holders(self) -> frozenset[str]:
        """The orgs that hold the regulator role as the view's latest snapshot says, whatever their status now:
        :meth:`current` and the regulators removed since (the founders' before the view has a snapshot)."""
        return self._sets()[1]

    def _sets(self) -> tuple[frozenset[str], frozenset[str]]:
        snapshot = self._view.snapshot
        if snapshot is None:
            return self._listed, self._listed
        kept = self._current
        if kept is not None and kept[0] is snapshot:
            return kept[1], kept[2]
        # a founder counts as the others do, while the statuses list it a member: one the directory holds no record
        # of has no status read, so is no member (as ChainMemberStatus answers the people checks), no regulator
        now: set[str] = {o for o in self._listed if snapshot.member(o)}
        held: set[str] = set(self._listed)
        complete = True
        for org in snapshot.orgs():
            if org in self._founders:
                continue
            roles = self._roles_now(org)
            if roles is None:
                complete = False
            elif Role.REGULATOR in roles:
                held.add(org)
                if snapshot.member(org):
                    now.add(org)
        answer = (frozenset(now), frozenset(held))
        if complete:  # an org not read is asked again at the next question, not at the next change
            self._current = (snapshot, *answer)
        return answer

    def _roles_now(self, org: str) -> Role | None:
        roles = self._roles.get(org)
        if roles is not None:
            return roles
        try:
            found = self._roles_of(org)
        except Exception as exc:  # the chain did not answer: no regulator now, asked again the next time
            log.warning("roles of %s not read, not counted a regulator: %s: %s", org, type(exc).__name__, exc)
            return None
        if found is None:  # not in the registry (yet): asked again the next time
            return None
        self._roles[org] = found
        return found


def query_regulators(regulators: Collection[str]) -> Collection[str]:
    """Whose queries the query visibility rule (``notary.event.QueryVisibility``) takes for a regulator's, given
    ``regulators`` (:func:`regulator_orgs`): with the chain's, every org that holds the role, a regulator removed
    since included, so that what a firm was shown of a regulator's queries of its data stays shown (a removed org's
    people log in no more, so it makes no query after its removal); otherwise ``regulators`` themselves."""
    if isinstance(regulators, ChainRegulators):
        return _LiveOrgs(regulators.holders)
    return regulators


def regulator_orgs(description: ConsortiumDescription, trust: TrustView | None = None) -> Collection[str]:
    """Who is a regulator, the one answer the people checks, the notary's readers and the query visibility rule
    (``notary.event.QueryVisibility``) are given: with ``trust``, a view of the TrustDirectory, the chain's
    (:class:`ChainRegulators`); without it, the founders of ``consortium.json`` with the role."""
    if trust is not None:
        return ChainRegulators(trust, description)
    return frozenset(m.org for m in description.members if Role.REGULATOR in m.roles)


def gateway_keys(description: ConsortiumDescription) -> dict[str, bytes]:
    return {m.org: m.identity.gateway_public_key for m in description.members}


#: The reader name of the explorer service, a trusted reader of the whole log (``notary.readauth``).
EXPLORER_READER = "{operator}/explorer"


def explorer_reader(description: ConsortiumDescription) -> str | None:
    """The explorer's reader name, ``<operator>/explorer``; ``None`` when no member holds the operator role."""
    operator = next((m.org for m in description.members if Role.OPERATOR in m.roles), None)
    return None if operator is None else EXPLORER_READER.format(operator=operator)


#: The bearer token of the consortium's monitoring (``notary.readauth``): written by ``consortium up``, read by the
#: notary it starts and by its alarm evaluator; give it to Prometheus as a ``credentials_file``.
MONITOR_TOKEN_FILE = Path(NOTARY_DIR) / "monitor.token"


def monitor_token(directory: Path, create: bool = False) -> str | None:
    """The monitor token of the consortium in ``directory`` (None if there is none); with ``create``, made (256
    random bits, readable by the owner only) when missing."""
    return secret_token(directory / MONITOR_TOKEN_FILE, create)


def secret_token(path: Path, create: bool = False) -> str | None:
    """The bearer token kept in ``path`` (None if there is none); with ``create``, made (256 random bits, the
    file readable by the owner only) when missing."""
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
        f.flush()
        os.fsync(f.fileno())
    return token


def read_access(
    directory: Path,
    description: ConsortiumDescription,
    authenticator: CallerAuthenticator | None = None,
    trust: TrustView | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> ReadAccess:
    """Who may read the log of the consortium in ``directory`` (``notary.readauth``): services by the gateway and
    witness keys of ``consortium.json``, people by their login tokens checked against the member CAs (as the
    explorer checks them), members by their client certificates over mutual TLS (:func:`certificate_check`), the
    regulator orgs' readers as regulators, the explorer as the trusted reader, and the monitor token, if the
    directory has one, for the operations figures; the orgs that run the notary (:func:`alarm_resolvers`) may
    resolve its alarms. ``authenticator``: the verdict on client certificates
    (:func:`notary_authenticator`, the one the notary's TLS server asks too). With ``trust``, a view of the
    TrustDirectory, people are checked as the explorer checks them: the member CAs (P-256 and SM2 identity CAs) and
    revoked serials the chain records valid at the view's head, and who is an active member as the registry
    statuses the view reads say (:class:`~network.trust.ChainMemberStatus`), so a firm admitted later has its people
    read once its CA is on chain and a CA retired on chain is refused from the view's next read; until the view has
    read the chain once, the founders and CAs of ``consortium.json``. Who is a regulator, for its readers and for
    the query visibility rule its event reads apply, is :func:`regulator_orgs` (the chain's, with ``trust``).
    Without it, ``consortium.json`` alone. ``clock`` (unix seconds) is the time signed reads, login tokens and
    certificates are checked against."""
    from network.trust import ChainMemberStatus

    regulators = regulator_orgs(description, trust)
    is_member: Callable[[str], bool] | None = None
    if trust is not None:  # a suspended member's people read nothing, as at the explorer
        status = ChainMemberStatus(trust, [m.org for m in description.members])
        is_member = lambda org: status(org) == "active"  # noqa: E731
    utc = _utc_clock(clock)
    people = Authenticator(directory, regulator_orgs=regulators, is_member=is_member, trust=trust, clock=utc)

    def person(authorization: str) -> tuple[str, bool, str]:
        try:
            found = people.authenticate(authorization)
        except LoginError as exc:
            raise UnauthenticatedError(f"login refused: {exc.detail}") from None
        return found.org, found.is_regulator, f"{found.name}@{found.org}"

    explorer = explorer_reader(description)
    return ReadAccess(
        gateway_keys=gateway_keys(description),
        witness_keys={m.org: m.identity.witness_public_key for m in description.members if Role.WITNESS in m.roles},
        regulators=regulators,
        query_regulators=query_regulators(regulators),
        trusted=() if explorer is None else (explorer,),
        people=person,
        clock=clock,
        monitor_token=monitor_token(directory),
        subjects_see_regulator=description.query_visibility().regulator_queries_visible_to_subject,
        certificates=certificate_check(
            directory,
            description,
            regulators,
            authenticator if authenticator is not None else notary_authenticator(directory, description, trust, utc),
        ),
        operators=alarm_resolvers(description),
    )


def _utc_clock(clock: Callable[[], float]) -> Callable[[], datetime]:
    return lambda: datetime.fromtimestamp(clock(), UTC)


def alarm_resolvers(description: ConsortiumDescription) -> frozenset[str]:
    """The orgs whose readers may resolve the notary's integrity alarms: those that run it, the operator's and
    the one holding the notary role (``notary.readauth``)."""
    orgs = {m.org for m in description.members if Role.OPERATOR in m.roles or Role.NOTARY in m.roles}
    return frozenset(orgs)


def _every_member_active(description: ConsortiumDescription) -> Callable[[str], str | None]:
    members = frozenset(m.org for m in description.members)
    return lambda org: "active" if org in members else None


def certificate_check(
    directory: Path,
    description: ConsortiumDescription,
    regulators: Collection[str],
    authenticator: CallerAuthenticator | None = None,
) -> Callable[[str], tuple[str, str, bool]]:
    """The notary's check of a member's client certificate (``notary.readauth.CertificateCheck``): the gateways'
    checks (``network.certificates.CallerAuthenticator``: a member CA issued it, clientAuth, its validity, its
    org's CRL), the org a member of ``consortium.json``; it reads as a regulator when its org is a regulator and
    it is a person's certificate with the ``regulator`` role, or a service's (no role), as a service of a
    regulator org reads. Its name is the certificate's common name. ``authenticator``: the verdict
    (:func:`notary_authenticator` by default); a suspended member reads nothing (``CallerAuthenticator.admit``)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from network.certificates import AuthError
    from network.identity import certificate_role

    verdict = authenticator if authenticator is not None else notary_authenticator(directory, description)
    regulator_orgs = regulators  # asked at each read: a ChainRegulators follows the chain

    def check(pem: str) -> tuple[str, str, bool]:
        try:
            caller = verdict.admit_pem(pem)
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
            role = certificate_role(cert)
        except AuthError as exc:
            raise UnauthenticatedError(f"client certificate refused: {exc.reason}: {exc.detail}") from None
        except ValueError as exc:  # not a certificate, or a role that is none (chain's MalformedError)
            raise UnauthenticatedError(f"client certificate refused: {exc}") from None
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(names[0].value) if names else caller.subject
        return name, caller.org, caller.org in regulator_orgs and role in (None, "regulator")

    return check


def notary_authenticator(
    directory: Path,
    description: ConsortiumDescription,
    trust: TrustView | None = None,
    clock: Callable[[], datetime] | None = None,
) -> CallerAuthenticator:
    """The notary's one verdict on a member's client certificate, at the TLS handshake, at each request on the
    connection, and for its reads (:func:`certificate_check`): the gateways' checks
    (``network.certificates.CallerAuthenticator``: a member CA issued it, clientAuth, its validity, its org's
    CRL). With ``trust``, a view of the TrustDirectory, the member CAs, the serials revoked on chain and who is a
    member (active or suspended) are the chain's as the view last read them, so a revocation takes effect from
    the view's next read, without a restart; without it, the CAs and members of ``consortium.json``. ``clock``:
    the time validity periods are checked against (default: the system clock)."""
    from network.certificates import CallerAuthenticator
    from network.trust import ChainMemberStatus

    founders = [m.org for m in description.members]
    status = _every_member_active(description) if trust is None else ChainMemberStatus(trust, founders)
    if clock is None:
        return CallerAuthenticator(description, directory, status, trust=trust)
    return CallerAuthenticator(description, directory, status, trust=trust, clock=clock)


def notary_tls(
    directory: Path,
    description: ConsortiumDescription,
    cert: Path,
    key: Path,
    passphrase: bytes,
    require_client_cert: bool = False,
    trust: TrustView | None = None,
    authenticator: CallerAuthenticator | None = None,
) -> ssl.SSLContext:
    """The notary's TLS server context for mutual TLS (``notary serve --tls-cert``): its certificate and key
    (``passphrase`` opens an encrypted key), client certificates asked for and verified against the member CAs of
    ``authenticator`` (by default :func:`notary_authenticator` over ``trust``), as a gateway's
    (``CallerAuthenticator.server_ssl_context``); with ``require_client_cert`` a client without one fails the
    handshake too (``--require-client-cert``), as one of another CA always does. With ``trust``, a view of the
    TrustDirectory, the CAs of the handshake are the chain's, as a gateway's: a member admitted later is let in once
    the chain lists its CA, without a restart. OpenSSL checks the issuer only: the server also asks
    ``authenticator.handshake_refusal`` once the handshake is done (``notary.api.app.tls_options``)."""
    if authenticator is None:
        authenticator = notary_authenticator(directory, description, trust)
    context = authenticator.server_ssl_context(cert, key, passphrase)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


#: The identity a service of an org presents to a notary served over mutual TLS (``consortium up --notary-tls``):
#: ``orgs/<org>/users/log@<org>/msp``, a clientAuth certificate of the org's CA. Not the admin's, for the reason
#: of the chain's (``network.nodeaccess.CHAIN_IDENTITY``): a service that ships and reads the log should not hold
#: the key that speaks for the org, and its org's CRL alone revokes it.
LOG_IDENTITY = "log"


def notary_client_tls(
    directory: Path, description: ConsortiumDescription, org: str, passphrase: bytes
) -> ssl.SSLContext:
    """The TLS client context a service of ``org`` reaches an https notary with: the notary's server certificate
    checked against the member CAs of ``consortium.json``, and ``org``'s :data:`LOG_IDENTITY` presented (issued
    by its CA the first time; loaded again when its file changes)."""
    from chain.backend import reloading_client_context
    from network.certificates import ca_bundle_pem
    from network.identity import issue_identity, user_paths

    paths = user_paths(directory, OrgId(org), LOG_IDENTITY)
    if not paths.cert.is_file():
        issue_identity(directory, OrgId(org), LOG_IDENTITY, passphrase)
    try:  # the certificate followed in its file: a CA rotated re-issues it (chain.tlsfiles.ReloadingContext)
        return reloading_client_context(paths.cert, paths.key, passphrase, cadata=ca_bundle_pem(description))
    except ssl.SSLError as exc:
        raise LogSetupError(f"cannot use {paths.cert} with {paths.key}: {exc.reason or exc}") from None


def notary_settings(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    witness_urls: Mapping[str, str],
    chain_url: str | None = None,
    anchor_interval: float = 10.0,
    anchor_every: int = 100_000,
    checkpoint_interval: float = 0.5,
    followed: bool = False,
) -> NotarySettings:
    """Settings of the notary run by the consortium in ``directory``; anchoring when a chain URL is known. With
    ``followed`` (the witnesses follow the chain, :class:`ChainWitnesses`), a URL of an org ``consortium.json``
    does not name as a witness is kept for when the chain lists its key; without, it is refused."""
    from notary.service import NotarySettings

    member = notary_member(description)
    verifiers = witness_verifiers(description)
    unknown = sorted(set(witness_urls) - set(verifiers))
    if unknown and not followed:
        raise LogSetupError(f"not witnesses of this consortium: {', '.join(unknown)}")
    witnesses = [Witness(org, url, verifiers[org]) for org, url in sorted(witness_urls.items()) if org in verifiers]
    anchor = None
    url = chain_url or description.chain_url
    if url:
        client = AuditAnchorClient(RpcBackend(url), description.contracts["AuditAnchor"])
        anchor = anchor_settings(directory, description, passphrase, client, interval=anchor_interval,
                                 every_events=anchor_every)  # fmt: skip
    return NotarySettings(
        directory=directory / NOTARY_DIR,
        origin=log_origin(description),
        log_key=load_notary_key(directory, OrgId(member.org), passphrase, description.crypto),
        gateway_keys=gateway_keys(description),
        witnesses=witnesses,
        policy=witness_policy(description),
        checkpoint_interval=checkpoint_interval,
        anchor=anchor,
        suite=description.suite,
    )


def anchor_settings(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    client: ChainClient,
    **timing: Unpack[AnchorTiming],
) -> AnchorSettings:
    """How the notary of ``description`` anchors through ``client`` (a connected AuditAnchor client, or a function
    that connects one): from the notary member's account in ``directory``, followed through a rotation with no
    restart (``network.accountrotation.MemberAccountKey``), the retired AuditAnchors ``consortium.json`` names
    compared; ``timing``: the pace of :class:`notary.service.AnchorSettings` (interval, every_events,
    max_backoff)."""
    from network.accountrotation import MemberAccountKey
    from notary.service import AnchorSettings

    org = notary_member(description).org
    signer = Signer.from_key(load_account_key(directory, OrgId(org), passphrase))
    retired = tuple((r.address, r.last_size) for r in description.retired_anchors)
    account = MemberAccountKey(directory, org, passphrase, description.contracts["ConsortiumRegistry"])
    return AnchorSettings(client, signer, retired=retired, account=account, **timing)


def check_log_keys(
    directory: Path,
    description: ConsortiumDescription,
    passphrase: bytes,
    gateway_orgs: Collection[str] = (),
    *,
    storage: str | None = None,
    object_store: str | None = None,
) -> None:
    """Refuse (:class:`LogSetupError`) to run a consortium whose private log keys are not of its suite, before
    anything starts: the notary's log key, every witness's key and the gateway keys of ``gateway_orgs``, each
    also checked to be the key ``consortium.json`` lists (so a key file swapped for one of the other suite, or a
    ``crypto`` edited by hand, is named here rather than in a child's log). The log key only until the log has
    started (its store holds a log: ``notary/notary.db``, or with ``storage`` and ``object_store`` the PostgreSQL
    database the notary will open, asked by ``notary.service.log_started``): since, it may have rotated
    (``notary rotate-key``), and the notary checks a key other than its store's on chain as it starts. A store
    that does not answer is refused here, named, before anything starts."""
    from notary.service import log_started

    crypto = description.crypto
    checks: list[tuple[str, str]] = [(notary_member(description).org, "notary")]
    checks += [(org, "witness") for org in witness_orgs(description)]
    checks += [(org, "gateway") for org in sorted(set(gateway_orgs))]
    loaders = {"notary": load_notary_key, "witness": load_witness_key, "gateway": load_gateway_key}
    try:
        started = log_started(directory / NOTARY_DIR, storage, object_store)
    except StoreError as exc:
        raise LogSetupError(f"cannot tell whether the notary's log has started: {exc}") from None
    for org, kind in checks:
        identity = description.member(org).identity
        expected = {
            "notary": identity.notary_public_key,
            "witness": identity.witness_public_key,
            "gateway": identity.gateway_public_key,
        }[kind]
        path = getattr(OrgPaths.of(directory, OrgId(org)), f"{kind}_key")
        try:
            key = loaders[kind](directory, OrgId(org), passphrase)
            # a started log's key may have rotated since consortium.json (the notary checks it on chain)
            rotatable = kind == "notary" and started
            check_log_key_suite(key, crypto, path, None if rotatable else expected)
        except IdentityError as exc:
            raise LogSetupError(f"the {kind} key of {org}: {exc}") from None


def witness_state_path(directory: Path, org: str) -> Path:
    return directory / WITNESS_DIR / org / "witness.db"


def roots_from_description(description: ConsortiumDescription) -> TrustRoots:
    """The trust roots of a consortium: log and witness keys, policy, notary account, AuditAnchor, validators.

    The validators are the set that seals the consortium's own chain (``chain.kind = local``): the genesis set
    ``consortium init`` writes, the account of every member holding the validator role (``network.nodes``),
    whose nodes agree on each block by QBFT; a block needs a quorum of their seals. An external chain seals by
    its own rules, so there the trust roots name none and the seal step does not apply (``verify evidence
    --validator`` names them)."""
    from notary.verify import TrustRoots

    validators: tuple[str, ...] = ()
    if description.chain_kind == "local":
        validators = tuple(m.identity.account for m in description.members if Role.VALIDATOR in m.roles)
    return TrustRoots(
        log=log_verifier(description),
        witnesses=witness_verifiers(description),
        policy=witness_policy(description),
        notary_account=notary_member(description).identity.account,
        anchor_address=description.contracts["AuditAnchor"],
        chain_id=description.chain_id,
        validators=validators,
        retired_anchors=tuple((r.address, r.last_size) for r in description.retired_anchors),
    )


# -- the log's key over time ------------------------------------------------------------------------------------


def chain_log_keys(snapshot: TrustSnapshot, description: ConsortiumDescription, head: int) -> LogKeys:
    """The log's keys as the TrustDirectory records them (the notary member's LOG_KEY records) in ``snapshot``,
    judged at ``head`` when a note is not anchored (``notary.logkeys``). The records of a member since removed
    still say which key signed what while it ran the log."""
    org = notary_member(description).org
    return LogKeys.from_records(log_origin(description), description.suite, snapshot.records.get(org, ()), head)


class ChainLogKey:
    """Whether a log key is valid now on chain, and the notary's next key: the key file
    ``orgs/ORG/keys/notary.pem`` read again whenever it changes (``consortium notary rotate-key`` rewrites it),
    given to the running notary once the chain says that key is valid (``NotarySettings.next_log_key``)."""

    def __init__(self, view: TrustView, directory: Path, description: ConsortiumDescription, passphrase: bytes):
        from network.keyrotation import ChainKeyFile, KeyFile

        self._view = view
        self._org = OrgId(notary_member(description).org)
        self._file = ChainKeyFile(
            view,
            KeyFile.of_log(directory, self._org),
            lambda: load_notary_key(directory, self._org, passphrase, description.crypto),
        )

    def on_chain(self, public_key: bytes) -> bool:
        """Whether ``public_key`` is a LOG_KEY of the notary's member valid at the head (read once if the view
        has read nothing yet)."""
        if self._view.snapshot is None:
            try:
                self._view.refresh()
            except Exception as exc:  # the chain unreachable: the key cannot be shown to be on chain now
                log.warning("cannot read the log's keys on chain: %s: %s", exc.__class__.__name__, exc)
                return False
        return self._view.was_valid(self._org, KeyKind.LOG_KEY, public_key, self._view.head)

    def __call__(self) -> PrivateKey | None:
        return self._file()
