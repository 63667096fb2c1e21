"""``consortium member keys ca-bundle``'s options refused before anything is read: ``--follow`` keeps a file, so it
needs ``--out``; an interval under a tenth of a second is no interval to poll a chain at."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import cli


def test_follow_needs_a_file_and_a_sane_interval(tmp_path: Path) -> None:
    base = ["--dir", str(tmp_path), "member", "keys", "ca-bundle"]
    r = CliRunner().invoke(cli, [*base, "--follow"])
    assert r.exit_code == 2 and "--follow keeps a file: give it with --out" in r.output, r.output
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b.pem"), "--follow", "--interval", "0.01"])
    assert r.exit_code == 2 and "--interval" in r.output, r.output
    assert not (tmp_path / "b.pem").exists()
