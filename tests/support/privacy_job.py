"""One small PSI job run in process, and the files each party keeps after it (``privacy.jobfiles``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy.jobfiles import party_files
from privacy.psi import JobTerms, PsiClient, PsiServer
from privacy.record import SignedRecord, sign_record
from privacy.suites import INTL, psi_suite
from suite.sm2 import SM2PrivateKey

JOB_ID = "job-42"
CLIENT_ORG, SERVER_ORG = "yanshan-sec", "jinghua-sec"
CLIENT_IDS = tuple(f"ACCT:C{n}" for n in range(20)) + tuple(f"ACCT:S{n}" for n in range(5))
SERVER_IDS = tuple(f"ACCT:S{n}" for n in range(30))
GRANT_ID = "0x" + "3f" * 32


@dataclass(frozen=True)
class Job:
    signed: SignedRecord
    client_files: dict[str, bytes]
    server_files: dict[str, bytes]


@functools.cache
def small_job(
    job_id: str = JOB_ID,
    dp_epsilon: str | None = None,
    dp_inputs: bool = False,
    suite: str = "intl",
    dp_budget: str | None = None,
    grant_id: str = GRANT_ID,
) -> Job:
    """25 client identifiers, 30 at the server, 5 shared (``ACCT:S0`` to ``ACCT:S4``); with ``dp_epsilon``, the
    record holds a differentially private count too (``privacy.dp``), with ``dp_inputs`` each party's input count
    with noise, and with ``dp_budget`` the grant's privacy budget; under ``suite`` (``privacy.suites``: ``sm`` signs
    with SM2 and commits with ECVRF-SM2-SM3)."""
    psi = psi_suite(suite)
    terms = JobTerms(
        job_id, grant_id, "aml-screening", 100, dp_epsilon, dp_inputs, suite=psi, dp_budget=dp_budget
    )  # fmt: skip
    signing = Ed25519PrivateKey.generate if psi is INTL else SM2PrivateKey.generate
    client_key, server_key, kem = signing(), signing(), psi.generate_kem()
    client = PsiClient(terms, CLIENT_ORG, psi.public_key(client_key), CLIENT_IDS, psi.kem_public(kem))
    server = PsiServer(terms, SERVER_ORG, psi.public_key(server_key), SERVER_IDS, kem)
    outcome = client.finish(server.respond(client.request()))
    server.check_record(outcome.record)
    signed = SignedRecord(
        outcome.record,
        sign_record(outcome.record, "client", client_key),
        sign_record(outcome.record, "server", server_key),
    )
    return Job(
        signed,
        party_files("client", signed, client.committed, outcome.result),
        party_files("server", signed, server.committed),
    )
