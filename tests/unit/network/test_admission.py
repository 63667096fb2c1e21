"""network.admission: a firm's signed admission request holds together and is bound to one consortium; any change
to it after signing, or a request made from another consortium's description, is refused with the reason; joining
needs an empty directory of the firm's own. (The refusals that need a chain are in the CLI's join test.)"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chain.contracts.registry import ProposalInfo, ProposalKind
from chain.errors import MalformedError
from chain.ids import OrgId, Role
from contracts import CONTRACT_NAMES
from network._pem import ENCRYPTED_PEM_HEADER
from network.admission import (
    FILENAME,
    AdmissionError,
    AdmissionRequest,
    join,
    joined_roles,
    load_request,
    org_roles,
)
from network.description import ConsortiumDescription, load_description
from network.identity import OrgPaths, create_org_identity, load_org_public

PASS = b"admission-unit-passphrase"
ORG = OrgId("epsilon")


def description(chain_id: int = 20270, registry: str = "0x" + "11" * 20, crypto: str = "intl") -> ConsortiumDescription:
    contracts = {name: "0x" + f"{i + 2:02x}" * 20 for i, name in enumerate(CONTRACT_NAMES)}
    contracts["ConsortiumRegistry"] = registry
    return ConsortiumDescription(
        "join-test", chain_id, "external", "http://127.0.0.1:1", contracts, 0, 1, 7, {}, (), crypto
    )


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AdmissionRequest, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("firm") / "epsilon"
    request, path = join(directory, description(), ORG, "Epsilon Securities", Role.MEMBER | Role.WITNESS, PASS)
    return directory, request, json.loads(path.read_text())


Joined = tuple[Path, AdmissionRequest, dict[str, Any]]


def test_join_makes_the_identity_and_a_request_that_checks(joined: Joined) -> None:
    directory, request, data = joined
    assert sorted(p.name for p in directory.iterdir()) == [FILENAME, "consortium.json", "orgs"]
    assert load_description(directory) == description()
    paths = OrgPaths.of(directory, ORG)
    for key in (paths.ca_key, paths.identity_key, paths.account_key, paths.gateway_key, paths.witness_key):
        assert key.read_bytes().startswith(ENCRYPTED_PEM_HEADER), key  # as `identity create`: encrypted
        assert key.stat().st_mode & 0o777 == 0o600
    public = load_org_public(directory, ORG)
    assert load_request(directory / FILENAME) == request
    assert (request.org, request.name, request.roles) == (ORG, "Epsilon Securities", Role.MEMBER | Role.WITNESS)
    assert request.account == public.account and request.cert_fingerprint == public.cert_fingerprint
    assert data["ca_fingerprint"] == "0x" + hashlib.sha256(_der(public.ca_cert_pem)).hexdigest()
    assert dict(request.keys) == {"gateway": public.gateway_public_key, "witness": public.witness_public_key}
    assert (data["consortium"]["chain_id"], data["consortium"]["registry"]) == (20270, "0x" + "11" * 20)
    assert joined_roles(directory, ORG) == Role.MEMBER | Role.WITNESS
    assert org_roles(directory, description(), ORG) == Role.MEMBER | Role.WITNESS
    assert joined_roles(directory, "alpha") is None
    with pytest.raises(MalformedError, match="holds no admission request of 'alpha'"):
        org_roles(directory, description(), "alpha")


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[key] = value

    return change


def _consortium(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["consortium"][key] = value

    return change


def _key(data: dict[str, Any]) -> None:
    data["keys"]["gateway"] = "00" * 32


def _other_ca(tmp: Path) -> Callable[[dict[str, Any]], None]:
    other = create_org_identity(tmp, ORG, "Epsilon Securities", PASS)

    def change(data: dict[str, Any]) -> None:  # a CA and admin certificate of another key, fingerprints updated
        data["ca_cert_pem"], data["admin_cert_pem"] = other.ca_cert_pem, other.admin_cert_pem
        data["ca_fingerprint"] = "0x" + hashlib.sha256(_der(other.ca_cert_pem)).hexdigest()
        data["cert_fingerprint"] = "0x" + other.cert_fingerprint.hex()

    return change


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


TAMPERINGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "name": (_set("name", "Epsilon Capital"), "is not the one its CA certificate names"),
    "roles": (_set("roles", ["member", "witness", "validator"]), "signature does not verify"),
    "roles-kept-keys": (_set("roles", ["member"]), "keys must be exactly"),
    "account": (_set("account", "0x" + "00" * 19 + "01"), "signature does not verify"),
    "account-malformed": (_set("account", "0x" + "Ab" * 20), "is not an EIP-55 checksum address"),
    "gateway-key": (_key, "signature does not verify"),
    "chain-id": (_consortium("chain_id", 1), "signature does not verify"),
    "registry": (_consortium("registry", "0x" + "22" * 20), "signature does not verify"),
    "ca-fingerprint": (_set("ca_fingerprint", "0x" + "00" * 32), "ca_fingerprint is not the SHA-256"),
    "cert-fingerprint": (_set("cert_fingerprint", "0x" + "00" * 32), "cert_fingerprint is not the SHA-256"),
    "format": (_set("format", "consortium-ledger/admission-request/v0"), "not an admission request"),
    "signature": (_set("signature", "AAAA"), "signature does not verify"),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_a_tampered_request_is_refused(
    joined: tuple[Path, AdmissionRequest, dict[str, Any]], tmp_path: Path, what: str
) -> None:
    _, _, data = joined
    change, reason = TAMPERINGS[what]
    altered = json.loads(json.dumps(data))
    change(altered)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(altered))
    with pytest.raises(AdmissionError) as refused:
        load_request(path)
    assert reason in str(refused.value) and str(path) in str(refused.value)


def test_a_request_with_another_firms_certificates_is_refused(
    joined: tuple[Path, AdmissionRequest, dict[str, Any]], tmp_path: Path
) -> None:
    """Certificates swapped for another CA's, fingerprints made to fit: the admin key's signature is not theirs."""
    _, _, data = joined
    altered = json.loads(json.dumps(data))
    _other_ca(tmp_path / "other")(altered)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(altered))
    with pytest.raises(AdmissionError, match="signature does not verify with the key of Admin@epsilon"):
        load_request(path)


def test_a_file_that_is_not_a_request_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text("{not json")
    with pytest.raises(AdmissionError, match="not an admission request"):
        load_request(path)
    with pytest.raises(AdmissionError, match="cannot read"):
        load_request(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("other", "reason"),
    [
        (description(chain_id=20271), "on chain id 20270"),
        (description(registry="0x" + "33" * 20), "made from another consortium.json"),
        (description(crypto="sm"), "of the 'intl' suite; this consortium runs 'sm'"),
    ],
    ids=["chain-id", "registry", "suite"],
)
def test_a_request_for_another_consortium_is_refused(
    joined: tuple[Path, AdmissionRequest, dict[str, Any]], other: ConsortiumDescription, reason: str
) -> None:
    _, request, _ = joined
    request.check_consortium(description())
    with pytest.raises(AdmissionError, match=reason):
        request.check_consortium(other)


def test_a_proposal_that_differs_from_the_request_is_refused(
    joined: tuple[Path, AdmissionRequest, dict[str, Any]],
) -> None:
    _, request, _ = joined
    proposal = ProposalInfo(
        7, ProposalKind.ADMIT, request.org, request.name, request.roles, (request.account,), 0,
        OrgId("op"), 1, 0, 0, False, request.cert_fingerprint,
    )  # fmt: skip
    request.check_proposal(proposal)
    with pytest.raises(AdmissionError, match="its roles, certificate fingerprint differ"):
        request.check_proposal(dataclasses.replace(proposal, roles=Role.MEMBER, cert_fingerprint=b"\0" * 32))
    with pytest.raises(AdmissionError, match="is a remove, not an admission"):
        request.check_proposal(dataclasses.replace(proposal, kind=ProposalKind.REMOVE))


def test_join_refuses_a_directory_that_is_not_empty_and_changes_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "firm"
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")
    with pytest.raises(AdmissionError, match="not empty"):
        join(directory, description(), ORG, "Epsilon Securities", Role.MEMBER, PASS)
    assert [p.name for p in directory.iterdir()] == ["notes.txt"]


def test_join_leaves_nothing_behind_when_it_fails(tmp_path: Path) -> None:
    directory = tmp_path / "firm"
    with pytest.raises(Exception, match="passphrase is too short"):
        join(directory, description(), ORG, "Epsilon Securities", Role.MEMBER, b"short")
    assert not directory.exists()


def test_the_firm_reads_its_roles_from_its_request_after_its_certificates_expired(tmp_path: Path) -> None:
    """Members refuse a request whose admin certificate is not valid today; the firm's own commands, which read its
    roles from it years after admission, do not care."""
    directory = tmp_path / "firm"
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    join(directory, description(), ORG, "Epsilon Securities", Role.MEMBER | Role.WITNESS, PASS, now=long_ago)
    with pytest.raises(AdmissionError, match=r"its admin certificate does not hold: .*expired"):
        load_request(directory / FILENAME)
    assert joined_roles(directory, ORG) == Role.MEMBER | Role.WITNESS
