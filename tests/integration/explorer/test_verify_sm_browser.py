"""The vendored SM2/SM3 module in Debian's chromium (headless, driven by Playwright): explorer/static served as it
is on loopback, the page imports verify.js and the log/ modules the way the explorer does, computes SM3, verifies an
SM2 signature made by ``suite.sm2`` and a whole ``sm`` bundle, and refuses a tampered one."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from suite.sm2 import SM2PrivateKey
from tests.integration.explorer.test_verify_js import STATIC, STEPS
from tests.integration.explorer.test_verify_js_suites import alter_line, build_bundle, keys_of, sm_suite
from tests.support.browser import launched
from tests.support.servers import LocalHTTPServer, QuietHandler

pytestmark = [pytest.mark.browser]

playwright_api = pytest.importorskip("playwright.sync_api")

CHECK = """async ({point, signature, message, bundle, tampered, keys}) => {
  const hex = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
  const { sm3, importSm2, verifySm2 } = await import("/log/smcrypto.js");
  const { toHex } = await import("/log/bytes.js");
  const { verifyBundle } = await import("/verify.js");
  const key = importSm2(hex(point), "the page's key");
  const oks = async (b) => Object.fromEntries((await verifyBundle(b, keys)).map((s) => [s.step, s.ok]));
  return {
    sm3: toHex(await sm3(new TextEncoder().encode("abc"))),
    verified: await verifySm2(key, hex(signature), hex(message)),
    otherId: await verifySm2(key, hex(signature), hex(message), ""),
    bundle: await oks(bundle),
    tampered: await oks(tampered),
  };
}"""


class _Quiet(QuietHandler, SimpleHTTPRequestHandler):
    pass


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    with LocalHTTPServer(functools.partial(_Quiet, directory=str(STATIC))) as http:
        yield http.url


def test_the_page_verifies_sm2_and_an_sm_bundle(served: str, tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    message = b"checked in the page"
    suite = sm_suite()
    bundle = build_bundle(suite)
    args = {
        "point": key.public_key().public_bytes().hex(),
        "signature": key.sign(message).hex(),
        "message": message.hex(),
        "bundle": bundle,
        "tampered": alter_line(bundle, suite.witnesses["alpha"].name),
        "keys": keys_of(suite),
    }
    with launched() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.route(
            f"{served}/sm-check.html", lambda route: route.fulfill(body="<!doctype html>", content_type="text/html")
        )
        page.goto(f"{served}/sm-check.html")
        answer = page.evaluate(CHECK, args)
    assert answer["sm3"] == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert answer["verified"] is True and answer["otherId"] is False
    assert answer["bundle"] == dict.fromkeys(STEPS, True)
    assert answer["tampered"] == {**dict.fromkeys(STEPS, True), "cosignatures": False}
    assert not errors, errors
