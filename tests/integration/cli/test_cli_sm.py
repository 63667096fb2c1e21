"""A consortium created with ``consortium init --demo --crypto sm`` and started with ``consortium up``, as real
processes. Its first case is the path of a call end to end, one test body for every suite
(tests/support/end_to_end.py, imported below and parametrised with this module's suite by tests/conftest.py): a call
through a gateway becomes an event that the notary logs in an SM3 tree, signs with its SM2 note key, that the
witnesses cosign with SM2 and the notary anchors with ``anchor_signed`` (SM3 of the checkpoint, the log key's SM2
signature checked on chain); ``consortium verify evidence`` and ``consortium verify log`` check it from
consortium.json alone, and the explorer indexes it and verifies its provenance. The gateway digested the call with
HMAC-SM3 under an HKDF-SM3 salt (event version 3), which ``consortium data reveal`` and ``consortium verify reveal``
follow. The module's own cases: a PSI job under the national suite, an SM2 certificate forwarded by a TLCP
terminator, an SM2 person's login, the rotation of an SM2 identity CA.

One consortium start for the whole module: it is the costly part (init, then up's twenty-odd processes). Its key
files and vault keys are written with the operator's lower PBKDF2 cost, ``$CONSORTIUM_KDF_ITERATIONS`` at its
floor of 10,000 rather than the default 200,000 (docs/national-suite.md, "Keys at rest"): the scheme is the same
(PBES2, PBKDF2-HMAC-SM3, SM4), read with the count each file states, and the default's cost is checked in
tests/unit/suite and tests/unit/notary/test_vault_sm.py. It saves about seventy derivations of 200,000 rounds."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest

from chain.backend import RpcBackend
from chain.ids import OrgId
from chain.tx import Signer, transact
from network._sm2ca import attributes
from network.description import load_description
from network.identity import OrgPaths, issue_identity, load_account_key, load_person_key, user_paths
from network.logins import make_token
from network.sm2callers import issue_sm2_identity
from sdk import MemberClient
from suite.sm2 import DEFAULT_ID, SM2PrivateKey
from suite.x509 import Certificate, Name, issue, issue_ca
from tests.support.cli import CLI, PASSPHRASE, assert_ok, cli_env, run_cli, shown
from tests.support.end_to_end import test_a_call_is_logged_cosigned_anchored_shown_and_verified_offline  # noqa: F401
from tests.support.sm3_reference import sm3
from tests.support.up_process import PLAIN, UpProcess, free_port, free_port_block
from tests.support.wait import wait_until

# The module's setup is twenty-odd Python processes on two cores: `init --demo --crypto sm` (four validator nodes,
# 215 transactions), then `up` (five nodes, seven witnesses, the notary, six gateways, the demo services, the
# explorer). Measured 2026-12-05 on this project's 2-core machine, the whole module took 97.6 s and 96.5 s of CPU
# (103.2 s before its key files were written at the lower cost below), its setup 69.9 s and 81.0 s at a load
# average of 8 to 12 (87.9 s before); at a load average of 40, `up` alone took 267 s and the setup ran past
# pytest's default 300 s. So 600 s, as the fixture's own INIT_TIMEOUT allows init alone.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

INIT_TIMEOUT = 600.0
START_TIMEOUT = 300.0
REGULATOR_TOKEN = Path("explorer") / "logins" / "inspector@bjcm-supervision.token"
KDF_ITERATIONS = 10_000


def sm_env() -> dict[str, str]:
    """``cli_env()`` with the operator's lowest PBKDF2-HMAC-SM3 cost for the key files and vault keys written."""
    return {**cli_env(), "CONSORTIUM_KDF_ITERATIONS": str(KDF_ITERATIONS)}


class SmConsortium:
    """The module's consortium (``tests.support.end_to_end.RunningConsortium``) and where its notary and explorer
    serve."""

    def __init__(self, directory: Path, up: UpProcess, summary: list[str]) -> None:
        self.directory = directory
        self.up = up
        self.summary = summary
        self.env = sm_env()  # what its commands run with
        self.port = up.port
        self.notary = f"http://127.0.0.1:{self.port + 1}"
        self.explorer = f"http://127.0.0.1:{self.port + 60}"


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmConsortium]:
    directory = tmp_path_factory.mktemp("sm") / "consortium"
    # init deploys and loads the demo catalogue on a four-validator chain: minutes on a loaded machine
    r = subprocess.run(
        [*CLI, "init", str(directory), "--demo", "--crypto", "sm"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=sm_env(),
        timeout=INIT_TIMEOUT,
        check=False,
    )
    out = assert_ok(r)
    assert "(7 members, chain id 20261), log suite sm" in out, shown(r)
    port = free_port_block()
    argv = [*CLI, "up", str(directory), "--port", str(port), "--authenticate-reads", "--traffic", "0", *PLAIN]
    up = UpProcess(argv, sm_env(), port)
    try:
        summary = up.wait_for_summary(timeout=START_TIMEOUT)
    except BaseException:
        up.kill()
        raise
    consortium = SmConsortium(directory, up, summary)
    try:
        yield consortium
    finally:
        if up.process.poll() is None:
            code = up.stop()
            assert code == 0, f"`consortium up` exited {code} on SIGTERM:\n{up.output()}"


class AuthGateway:
    """A ``gateway serve --mode auth`` of bjic-cloud (name ``tlcp``) on the module's consortium, following its chain:
    what nginx asks before it forwards a call, a TLCP terminator's forwarded client certificate with it."""

    def __init__(self, port: int, admin: int, process: subprocess.Popen[bytes], log_file: Path) -> None:
        self.port = port
        self.admin = admin
        self.process = process
        self.log_file = log_file

    def ask(self, method: str, target: str, purpose: str, certificate: str | None) -> httpx.Response:
        """The auth subrequest of nginx's configuration (gateway/nginx.py), certificate and all."""
        assert self.process.poll() is None, self.log_file.read_text()
        headers = {"X-Original-Method": method, "X-Original-URI": target, "Consortium-Purpose": purpose}
        if certificate is not None:
            headers["X-Client-Cert"] = quote(certificate, safe="")  # $ssl_client_escaped_cert
        return httpx.get(f"http://127.0.0.1:{self.port}/auth", headers=headers, timeout=10)


@pytest.fixture(scope="module")
def tlcp_gateway(sm: SmConsortium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthGateway]:
    """Started once, by the first case that asks for it: one more process on the module's consortium."""
    port, admin = free_port(), free_port()
    log_file = tmp_path_factory.mktemp("tlcp-gateway") / "gateway.log"
    process = subprocess.Popen(
        [*CLI, "gateway", "serve", str(sm.directory), "--org", "bjic-cloud", "--name", "tlcp", "--mode", "auth",
         "--port", str(port), "--admin-port", str(admin), "--notary-url", sm.notary, "--chain-url", sm.up.url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file.open("wb"), env=sm_env(),
    )  # fmt: skip
    try:

        def serving() -> bool:
            assert process.poll() is None, log_file.read_text()
            return httpx.get(f"http://127.0.0.1:{admin}/healthz", timeout=1).status_code == 200

        wait_until(serving, "the auth-mode gateway's admin endpoint", 60, every=0.2, ignoring=(httpx.HTTPError,))
        yield AuthGateway(port, admin, process, log_file)
    finally:
        process.terminate()
        process.wait(30)


def test_a_psi_job_runs_on_the_national_suite_and_its_disclosure_verifies_offline(
    sm: SmConsortium, tmp_path: Path
) -> None:
    """``init --demo --crypto sm`` loaded the demo's identifier set with ``ecdh-psi-sm2`` terms: jinghua-sec runs a job
    on ten of its customers (five of them shared) through yanshan-sec's gateway; the record is SM2-signed by both,
    its step's event (SM2 keys in its summary) is logged, and a disclosure from the client's files verifies offline."""
    directory = sm.directory
    lists = {
        org: {
            line
            for line in (directory / "orgs" / org / "privacy" / "demo-customers.txt").read_text().splitlines()
            if line and not line.startswith("#")
        }
        for org in ("yanshan-sec", "jinghua-sec")
    }
    shared = sorted(lists["yanshan-sec"] & lists["jinghua-sec"])[:5]
    mine = shared + sorted(lists["jinghua-sec"] - lists["yanshan-sec"])[:5]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(mine) + "\n")
    terms = json.loads((directory / "orgs" / "yanshan-sec" / "privacy" / "customer-ids.terms.json").read_text())
    assert terms["protocol"] == "ecdh-psi-sm2" and len(base64.b64decode(terms["kem_key"])) == 65
    r = run_cli(
        "--dir", str(directory), "privacy", "run", "customer-ids", "--purpose", "aml-screening", "--ids", str(ids),
        "--as", "jinghua-sec", "--json",
    )  # fmt: skip
    job = json.loads(assert_ok(r))
    assert (job["intersection"], job["client_input"], job["server_input"]) == (5, 10, 4000), job
    files = Path(job["files"])
    result = json.loads((files / "result.set.json").read_text())
    assert sorted(result["identifiers"]) == shared
    signed = json.loads(Path(job["record"]).read_text())
    record = signed["record"]
    assert record["protocol"] == "ecdh-psi-sm2"
    description = load_description(directory)
    published = {str(m.org): m.identity.gateway_public_key.hex() for m in description.members}
    assert record["client"]["signing_key"] == published["jinghua-sec"]  # 65-byte SM2 keys
    assert record["server"]["signing_key"] == published["yanshan-sec"]
    owner_record = directory / "orgs" / "yanshan-sec" / "privacy" / "jobs" / job["job_id"] / "record.json"
    assert owner_record.read_bytes() == Path(job["record"]).read_bytes()
    with MemberClient.from_directory(
        directory, "jinghua-sec", name="client", passphrase=PASSPHRASE.encode(), notary_url=sm.notary
    ) as client:
        client.receipt(job["events"]["record"], wait_s=30)  # the notary took the event and its summary

    proof = tmp_path / "proof.json"
    made = run_cli(
        "privacy", "prove-member", *[str(p) for p in sorted(files.iterdir())], "--id", shared[0], "--set", "result",
        "--out", str(proof),
    )  # fmt: skip
    assert_ok(made)
    checked = run_cli("verify", "disclosure", str(proof), "--record", str(owner_record))
    out = assert_ok(checked)
    assert "✓ suite — sm (ecdh-psi-sm2: SM2 with SM3 signatures, SM3 trees)" in out, shown(checked)
    assert out.splitlines()[-1] == f"identifier {shared[0]} was in the result of job {job['job_id']} (committed by " + (
        "jinghua-sec)"
    )


def test_an_sm2_certificate_forwarded_by_a_tlcp_terminator_is_decided_and_logged_with_its_sm3_identity(
    sm: SmConsortium, tlcp_gateway: AuthGateway
) -> None:
    """The gateway behind a TLCP terminator (docs/national-suite.md): a jinghua-sec caller gets an SM2 certificate of
    its member's SM2 identity CA (in consortium.json since ``init --crypto sm``), and a real ``gateway serve --mode
    auth`` of bjic-cloud receives it in the client-certificate header as a TLCP terminator (a Tongsuo-built nginx,
    with ``gateway nginx-config --tlcp``) would send it, URL-encoded. The test stands in for
    that terminator: no TLCP handshake can run here (OpenSSL 3.0's TLS refuses SM2 certificates, and Debian ships no
    Tongsuo), so what is exercised is everything after it: the header, the SM2 checks, the grant, the event and its
    SM3 ``caller_identity`` in the log. One more process (the auth-mode gateway, ``tlcp_gateway``) on the module's
    consortium."""
    directory = sm.directory
    # what `identity issue --sm2` does (the command itself: tests/unit/cli/test_sm2_terminator_commands.py), in process
    pem = issue_sm2_identity(directory, OrgId("jinghua-sec"), "tlcp", PASSPHRASE.encode()).cert.read_text()
    der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and b"\x2a\x81\x1c\xcf\x55\x01\x83\x75" in der  # SM2-with-SM3

    def ask(purpose: str, certificate: str | None = pem) -> httpx.Response:
        return tlcp_gateway.ask("GET", "/v1/market/quotes/level2?symbol=600519.SH", purpose, certificate)

    allowed, denied = ask("trading"), ask("marketing")
    assert allowed.status_code == 204, (allowed.status_code, allowed.text)
    assert allowed.headers["Consortium-Caller-Org"] == "jinghua-sec"
    assert allowed.headers["Consortium-Gateway"] == "bjic-cloud/tlcp"
    assert denied.status_code == 403 and denied.headers["Consortium-Denial-Reason"] == "no_grant", denied.text
    # a forger's SM2 CA with the subject of jinghua-sec's, and no certificate at all: 401, nothing recorded
    listed = Certificate.from_pem(OrgPaths.of(directory, OrgId("jinghua-sec")).sm2_ca_cert.read_bytes())
    forger = SM2PrivateKey.generate()
    name = Name("sm2-ca.jinghua-sec", attributes(listed, "organization_name")[0], "jinghua-sec")
    start = listed.not_before
    fake_ca = issue_ca(name, forger, start, listed.not_after)
    fake = issue(Name("tlcp@jinghua-sec", None, "jinghua-sec"), SM2PrivateKey.generate().public_key(), fake_ca,
                 forger, start, listed.not_after, usage="client")  # fmt: skip
    assert Certificate.from_der(fake_ca).subject_der == listed.subject_der
    outsider = ask("trading", Certificate.from_der(fake).to_pem().decode())
    assert (outsider.status_code, outsider.json()["reason"]) == (401, "unknown_issuer"), outsider.text
    assert "to the SM2 CA of org jinghua-sec fails" in outsider.json()["detail"], outsider.text
    assert ask("trading", None).json()["reason"] == "no_certificate"

    with MemberClient.from_directory(
        directory, "jinghua-sec", name="client", passphrase=PASSPHRASE.encode(), notary_url=sm.notary
    ) as client:
        for answer, decision in ((allowed, "allow"), (denied, "deny")):
            event_id = answer.headers["Consortium-Event-Id"]
            entry = json.loads(client.evidence(event_id, wait_s=60).entry)
            assert (entry["decision"], entry["caller_org"], entry["v"]) == (decision, "jinghua-sec", 3), entry
            assert entry["caller_identity"] == sm3(der).hex(), entry  # the SM3 of the SM2 certificate's DER


def test_a_person_added_with_the_cli_logs_in_to_the_explorer_with_an_sm2_token(sm: SmConsortium) -> None:
    # The people of an sm member hold SM2 certificates of its SM2 identity CA, and log in with SM2SM3 tokens: the
    # demo's (which up issued) and one added now.
    demo_token = (sm.directory / REGULATOR_TOKEN).read_text().strip()
    assert jws_header(demo_token)["alg"] == "SM2SM3"
    where = str(sm.directory)
    assert_ok(run_cli("user", "add", where, "--org", "jinghua-sec", "--name", "lin", "--role", "compliance",
                      env=sm_env()))  # fmt: skip
    token = assert_ok(run_cli("user", "token", where, "--org", "jinghua-sec", "--name", "lin", env=sm_env())).strip()
    assert jws_header(token)["alg"] == "SM2SM3"
    me = httpx.get(sm.explorer + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert (me.json()["org"], me.json()["name"], me.json()["role"]) == ("jinghua-sec", "lin", "compliance")


ROTATED = OrgId("yongding-sec")  # a founder no other case here uses: its people, SM2 callers and grants are its own
#: `up`'s chain seals a block only for a transaction (docs/trust.md): after the rotation's three (the listed CA
#: recorded, the new one added, the old one retired two blocks on) the case moves it to the retirement itself.
OVERLAP_BLOCKS = 2


def test_a_founder_rotates_its_sm2_identity_ca_with_the_cli_and_the_running_explorer_and_gateway_follow(
    sm: SmConsortium, tlcp_gateway: AuthGateway
) -> None:
    """``consortium identity rotate-ca --sm2`` run as a user would (docs/national-suite.md, "Rotating an SM2 identity
    CA") by a founder whose SM2 CA counts by its listing in consortium.json: the command records it on chain, adds the
    new one and retires the old a few blocks on, and re-issues the founder's SM2 person and SM2 caller. The running
    explorer and auth-mode gateway learn both from the chain without a restart: the re-issued person's token and the
    re-issued caller are let in, a token carrying the kept old-CA certificate logs in during the overlap and is
    refused from the retirement block on, as is the kept old-CA caller certificate. `up`'s chain seals a block only
    for a transaction: the overlap lasts until the case sends yongding-sec's account a transaction of its own (or
    the notary anchors). The module's last case; it touches only yongding-sec, which no other case uses, so it
    disturbs none of them in any order."""
    directory = sm.directory
    passphrase = PASSPHRASE.encode()
    backend = RpcBackend(sm.up.url)
    ticker = Signer.from_key(load_account_key(directory, ROTATED, passphrase))
    # a person and an SM2 caller of the old SM2 CA (what `user add` and `identity issue --sm2` do, in process), kept
    issue_identity(directory, ROTATED, "wen", passphrase, role="compliance")
    person = user_paths(directory, ROTATED, "wen")
    caller = issue_sm2_identity(directory, ROTATED, "tlcp", passphrase).cert
    old_ca = Certificate.from_pem(OrgPaths.of(directory, ROTATED).sm2_ca_cert.read_bytes())
    old_person, old_caller = person.cert.read_bytes(), caller.read_text()
    old_token = make_token(old_person, load_person_key(directory, ROTATED, "wen", passphrase))

    r = run_cli("--dir", str(directory), "--chain-url", sm.up.url, "identity", "rotate-ca", "--sm2", "--as", ROTATED,
                "--overlap-blocks", str(OVERLAP_BLOCKS), "--json", env=sm_env())  # fmt: skip
    rotation = json.loads(assert_ok(r))
    until = rotation["old"]["valid_until"]
    assert rotation["installed"] and until == rotation["new"]["valid_from"] + OVERLAP_BLOCKS, rotation
    reissued = {str(person.cert.relative_to(directory)), str(caller.relative_to(directory))}
    assert reissued <= set(rotation["reissued"]), rotation
    new_ca = Certificate.from_pem(OrgPaths.of(directory, ROTATED).sm2_ca_cert.read_bytes())
    assert new_ca.der != old_ca.der and new_ca.subject_der == old_ca.subject_der
    for path, kept in ((person.cert, old_person), (caller, old_caller.encode())):
        cert = Certificate.from_pem(path.read_bytes())
        new_ca.public_key.verify_der(cert.signature, cert.tbs, DEFAULT_ID)  # the new CA signed it: raises if not
        assert cert.public_key == Certificate.from_pem(kept).public_key  # same key, subject
        assert cert.subject_der == Certificate.from_pem(kept).subject_der

    def me(token: str) -> httpx.Response:
        return httpx.get(sm.explorer + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def refused_at(answer: httpx.Response) -> int:
        """The block at which the old SM2 CA was found retired, as the refusal says."""
        assert answer.status_code == 401 and answer.json()["error"] == "unknown_issuer", answer.text
        found = re.search(r"of org yongding-sec is not valid on chain at block (\d+)", answer.json()["detail"])
        assert found is not None, answer.text
        return int(found.group(1))

    # the re-issued person gets a token with the CLI; the explorer lets it in once its view holds the new CA's record
    token = assert_ok(run_cli("user", "token", str(directory), "--org", ROTATED, "--name", "wen", env=sm_env())).strip()
    assert jws_header(token)["alg"] == "SM2SM3"
    answer = answer_when(
        lambda: me(token), lambda a: a.status_code != 401, "the explorer to let in wen of the new SM2 CA"
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["org"], answer.json()["name"], answer.json()["role"]) == (ROTATED, "wen", "compliance")
    # the kept old-CA certificate during the overlap (the chain at the block of the retirement's transaction): let
    # in, unless an anchor of the notary's has sealed the retirement block since, which the refusal must then name
    old = me(old_token)
    if old.status_code != 200:
        assert refused_at(old) >= until, (old.text, until)
    # the auth-mode gateway (following the chain) takes the re-issued caller's certificate for its grant
    new_caller = caller.read_text()

    def gateway(certificate: str) -> httpx.Response:
        return tlcp_gateway.ask("GET", "/v1/compliance/restricted", "compliance", certificate)

    allowed = answer_when(lambda: gateway(new_caller), lambda a: a.status_code != 401, "the gateway to let it in")
    assert allowed.status_code == 204, (allowed.status_code, allowed.text)
    assert allowed.headers["Consortium-Caller-Org"] == ROTATED

    # from the retirement block on, the old CA's certificates are refused; the new CA's still let in
    while int(backend.web3.eth.block_number) < until:
        transact(backend, ticker, ticker.address, "0x", label="tick")
    refused = answer_when(lambda: me(old_token), lambda a: a.status_code != 200, f"a refusal from block {until}")
    assert refused_at(refused) >= until, (refused.text, until)
    assert int(backend.web3.eth.block_number) >= until
    assert me(token).status_code == 200
    outsider = answer_when(lambda: gateway(old_caller), lambda a: a.status_code == 401, "the gateway's refusal")
    assert outsider.json()["reason"] == "unknown_issuer", outsider.text
    assert "not valid on chain at block" in outsider.json()["detail"], outsider.text
    assert gateway(new_caller).status_code == 204


def jws_header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return cast(dict[str, Any], json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def answer_when(
    request: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], what: str, timeout: float = 30
) -> httpx.Response:
    """The first answer of ``request`` that is ``done``, asked again every 0.1 s until ``timeout`` (then the last
    answer's body is in the failure)."""
    last: list[httpx.Response] = []

    def condition() -> httpx.Response | None:
        last[:] = [request()]
        return last[0] if done(last[0]) else None

    try:
        return wait_until(condition, what, timeout, every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the last answer: {last[0].status_code} {last[0].text}" if last else exc) from None
