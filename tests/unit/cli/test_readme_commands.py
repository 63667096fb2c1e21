"""The README's shell examples: each block of ``$ `` commands is either a ``console`` block, which
``tests/e2e/readme.py`` runs against the demo consortium ``make run`` started, or says just above it why it is not
run (``<!-- not run: REASON ... -->``, REASON one of :data:`NOT_RUN_REASONS`). And every ``consortium`` command of
every block, run or not, is one the CLI accepts: its groups, commands, options, choices and arguments parse.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from cli.main import cli

README = Path(__file__).resolve().parents[3] / "README.md"
#: Why a block of commands may stay out of ``tests/e2e/readme.py``'s run.
NOT_RUN_REASONS = {
    "second-machine": "it runs in a second firm's directory (another machine, its own passphrase), not the demo's",
    "example-files": "it reads files of an example (a job, a saved answer) the demo does not make",
    "irreversible": "it destroys what the demo consortium needs afterwards (a day's keys)",
}
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"^<!-- not run: ([\w-]+) (.+?) -->$")


@dataclass(frozen=True, slots=True)
class Block:
    line: int  # of the opening fence in README.md
    kind: str  # the info string's first word
    text: str
    before: str  # the line just above the fence


def readme_blocks(text: str) -> list[Block]:
    found = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append(Block(line, (m.group(1).split() or [""])[0], m.group(2), before))
    return found


def shell_commands(block: str) -> Iterator[str]:
    """The commands of a block: the text after ``$ ``, joined over lines ending in ``\\``."""
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            parts = [lines[i][2:]]
            while parts[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                parts[-1] = parts[-1][:-1]
                parts.append(lines[i].strip())
            yield " ".join(p.strip() for p in parts)
        i += 1


def consortium_args(command: str) -> list[str] | None:
    """The arguments of a ``consortium`` command (``.venv/bin/consortium`` too), up to a redirection or the end;
    None for another program."""
    words = shlex.split(command, comments=True)
    if not words or Path(words[0]).name != "consortium":
        return None
    args = []
    for word in words[1:]:
        if word.startswith((">", "|", "<")) or word in ("&&", ";"):
            break
        args.append(word)
    return args


def unrun_blocks(blocks: list[Block]) -> list[str]:
    """Blocks of ``$`` commands neither run (``console``) nor tagged with a known reason not to be."""
    wrong = []
    for block in blocks:
        if block.kind == "console" or not any(line.startswith("$ ") for line in block.text.splitlines()):
            continue
        tag = _NOT_RUN.match(block.before)
        if tag is None:
            wrong.append(f"README.md:{block.line}: commands neither run (```console) nor tagged <!-- not run: … -->")
        elif tag.group(1) not in NOT_RUN_REASONS:
            wrong.append(f"README.md:{block.line}: unknown reason {tag.group(1)!r} not to run it")
    return wrong


def parse_error(args: list[str]) -> str | None:
    """What the CLI says against ``consortium ARGS`` without running it (None: it parses)."""
    try:
        ctx = cli.make_context("consortium", list(args))
        command: click.Command = cli
        while isinstance(command, click.Group):
            rest = [*ctx._protected_args, *ctx.args]
            if not rest:
                return "no command"
            _, sub, sub_args = command.resolve_command(ctx, rest)
            assert sub is not None
            command, ctx = sub, sub.make_context(sub.name or "", sub_args, parent=ctx)
    except click.ClickException as exc:
        return exc.format_message()
    return None


def _all_commands(command: click.Command, ctx: click.Context) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            yield from _all_commands(sub, ctx)


@pytest.fixture
def paths_need_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's files (``firm-e``, ``call.json``) are not here: every path option parses as if they were."""
    ctx = click.Context(cli)
    for command in _all_commands(cli, ctx):
        for param in command.params:
            if isinstance(param.type, click.Path):
                monkeypatch.setattr(param.type, "exists", False)


def test_every_block_of_commands_is_run_or_says_why_not() -> None:
    assert unrun_blocks(readme_blocks(README.read_text(encoding="utf-8"))) == []


@pytest.mark.usefixtures("paths_need_not_exist")
def test_every_consortium_command_of_the_readme_parses() -> None:
    wrong = {}
    count = 0
    for block in readme_blocks(README.read_text(encoding="utf-8")):
        for command in shell_commands(block.text):
            args = consortium_args(command)
            if args is None:
                continue
            count += 1
            error = parse_error(args)
            if error is not None:
                wrong[f"README.md:{block.line}: {command}"] = error
    assert wrong == {}
    assert count >= 20  # the quick start's and the joining firm's at least


def test_a_block_without_a_reason_not_to_run_it_is_reported() -> None:
    text = (
        "```console\n$ consortium member list\n```\n\n"
        "<!-- not run: second-machine it runs in firm-e -->\n```\n$ consortium --dir firm-e member list\n```\n\n"
        "```\n$ consortium member list\n```\n\n"
        "<!-- not run: lazy no reason -->\n```\n$ consortium member list\n```\n\n"
        '```json\n{"a": 1}\n```\n'
    )
    assert unrun_blocks(readme_blocks(text)) == [
        "README.md:10: commands neither run (```console) nor tagged <!-- not run: … -->",
        "README.md:15: unknown reason 'lazy' not to run it",
    ]


@pytest.mark.usefixtures("paths_need_not_exist")
def test_a_wrong_command_does_not_parse() -> None:
    assert parse_error(["member", "list"]) is None
    assert parse_error(["--dir", "firm-e", "member", "keys", "publish", "--as", "epsilon-sec"]) is None
    assert parse_error(["member", "lst"]) is not None
    assert parse_error(["grant", "check", "a", "--grantee", "b", "--purpose", "c", "--no-such-option"]) is not None
    assert parse_error(["member"]) is not None  # a group alone


def test_commands_are_read_as_a_shell_reads_them() -> None:
    block = (
        "$ .venv/bin/consortium asset register x \\\n      --kind feed --as y > out.json  # a comment\n"
        "printed\n$ curl -s x"
    )
    commands = list(shell_commands(block))
    assert commands == [".venv/bin/consortium asset register x --kind feed --as y > out.json  # a comment", "curl -s x"]
    assert consortium_args(commands[0]) == ["asset", "register", "x", "--kind", "feed", "--as", "y"]
    assert consortium_args(commands[1]) is None
