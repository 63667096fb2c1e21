"""The README's examples, run as a reader would run them against the demo consortium ``make run`` started.

Each ``console`` block is a shell session: ``$ `` starts a command (a line ending in ``\\`` continues it), and
the lines up to the next command are what it prints, ``…`` standing for any text. Each ``python`` block runs
as a script. They run in a folder where ``demo-data`` is the test's consortium and ``.venv`` the repository's,
with the README's default ports (8545 and the ports derived from it) replaced by the test's. The consortium
file names the chain's URL at the default port, so the commands get the test's through
``CONSORTIUM_CHAIN_URL``, as a reader running a second consortium would set it. A block of commands of another
kind is not run here: ``tests/unit/cli/test_readme_commands.py`` requires it to say why just above it, and every
``consortium`` command of the README, run or not, to parse.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEFAULT_PORT = 8545
#: The README's ports, as offsets from the chain's: the notary, the first gateway, the explorer.
PORT_OFFSETS = {8545: 0, 8546: 1, 8565: 20, 8000: 60}
_EXAMPLE_ID = re.compile(r"\b[0-9a-f]{8}-…")
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Command:
    line: int  # in README.md
    text: str
    expected: tuple[str, ...]  # the lines the README shows it printing


def blocks(kind: str) -> list[tuple[int, str]]:
    """The README's fenced blocks of ``kind`` as (first line number, text)."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2)) for m in _BLOCK.finditer(text) if m.group(1) == kind]


def console_commands(block: str, first_line: int) -> list[Command]:
    commands: list[Command] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise AssertionError(f"README.md:{first_line + i}: output with no command before it: {lines[i]!r}")
        start, parts = i, [lines[i][2:]]
        while parts[-1].endswith("\\"):
            i += 1
            parts[-1] = parts[-1][:-1]
            parts.append(lines[i].strip())
        i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        commands.append(Command(first_line + start, " ".join(p.strip() for p in parts), tuple(output)))
    return commands


def with_ports(text: str, port: int) -> str:
    return re.sub(r"(?<=[:/])(8545|8546|8565|8000)\b", lambda m: str(port + PORT_OFFSETS[int(m.group(1))]), text)


def matches(expected: tuple[str, ...], printed: str) -> bool:
    """Whether ``printed`` shows the ``expected`` lines in this order, other lines allowed between them, ``…``
    standing for any text within a line (an example event id such as ``535683f5-…`` for any id); a line of ``…``
    alone says more lines follow. No expectation accepts anything."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" + r"[^\n]*".join(map(re.escape, _EXAMPLE_ID.sub("…", line).split("…"))) + r"[^\n]*\n"
        for line in expected
        if line.strip() != "…"
    )
    return re.match(pattern, printed.replace("\r\n", "\n") + "\n") is not None


def _answers(url: str, context: ssl.SSLContext) -> Callable[[], bool]:
    return lambda: httpx.get(url, verify=context, timeout=5).status_code == 200


def run_examples(data: Path, port: int, env: dict[str, str], workdir: Path) -> int:
    """Run every console and python block of the README; return how many commands and scripts ran."""
    workdir.mkdir()
    (workdir / "demo-data").symlink_to(data)
    (workdir / ".venv").symlink_to(REPO / ".venv")
    (workdir / "README.md").symlink_to(README)
    shell_env = {**env, "CONSORTIUM_CHAIN_URL": f"https://127.0.0.1:{port}", "PYTHONPATH": str(REPO)}
    ran = 0
    previous = ""
    for first_line, block in blocks("console"):
        for command in console_commands(block, first_line):
            if command.text.startswith("make "):  # `make run` itself: what the calling test runs and checks
                continue
            text = with_ports(command.text, port)
            # the README's next step uses the event id the last call printed (curl -i), or the run of a PSI job
            event = re.search(r"(?:Consortium-Event-Id:|request +event) (\S+)", previous)
            if event is not None:
                text = _EXAMPLE_ID.sub(event.group(1), text)
            if "/v1/evidence/" in text:  # "once a cosigned checkpoint covers it": wait for that, as a reader would
                found = re.search(r"https://\S+/v1/evidence/\S+", text)
                assert found is not None, text
                # the notary serves an event to its parties, over mutual TLS: the example shows a party's certificate
                cert, key = re.search(r"--cert (\S+)", text), re.search(r"--key (\S+)", text)
                assert cert is not None and key is not None, text
                context = ssl.create_default_context(cafile=workdir / "demo-data" / "ca-bundle.pem")
                context.load_cert_chain(workdir / cert.group(1), workdir / key.group(1), env["CONSORTIUM_PASSPHRASE"])
                wait_until(_answers(found.group(0), context), "the evidence", 90)
            r = subprocess.run(
                ["bash", "-c", text], cwd=workdir, env=shell_env, capture_output=True, text=True, timeout=180
            )
            printed = r.stdout + r.stderr
            expects_error = any(line.startswith("error: ") for line in command.expected)
            where = f"README.md:{command.line}: {text}"
            assert (r.returncode != 0) == expects_error, f"{where}\nexit {r.returncode}\n{printed}"
            assert matches(command.expected, printed), f"README.md:{command.line}: {text}\nprinted:\n{printed}"
            if text.startswith("export "):
                name, _, value = text.removeprefix("export ").partition("=")
                shell_env[name] = value
            previous = printed
            ran += 1
    for first_line, block in blocks("python"):
        script = workdir / f"readme_{first_line}.py"
        script.write_text(with_ports(block, port), encoding="utf-8")
        r = subprocess.run(
            [sys.executable, str(script)], cwd=workdir, env=shell_env, capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 0, f"README.md:{first_line}: the Python example failed:\n{r.stdout}\n{r.stderr}"
        ran += 1
    return ran


__all__ = ["console_commands", "matches", "run_examples", "with_ports"]
