"""The benchmarks' ``--baseline CHECKOUT`` modes (``bench.gateway_baseline``, ``chain_baseline``,
``explorer_baseline``, ``notary_baseline``, ``store_baseline``): which command a checkout runs, the medians printed,
the figures taken from a run's results, and a directory that is no checkout refused before anything starts."""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from bench import chain_baseline, explorer_baseline, notary_baseline, store_baseline
from bench.common import baseline_options, in_turn, write_client_pem, write_side_by_side
from bench.gateway_baseline import compare, entry_module, summarise


def test_a_checkout_with_the_cli_package_runs_it_and_an_older_one_runs_network_cli(tmp_path: Path) -> None:
    (tmp_path / "network").mkdir()
    (tmp_path / "network" / "cli.py").write_text("")
    assert entry_module(tmp_path) == "network.cli"
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "main.py").write_text("")
    assert entry_module(tmp_path) == "cli.main"


def _round(calls: float, gateway: float, beside: float, added: float) -> dict[str, object]:
    return {
        "calls_per_s": calls,
        "cpu_us_per_call": {"gateway": gateway, "node": beside},
        "cpu_us_per_call_on_the_path": gateway + 100,
        "cpu_us_per_call_beside": beside,
        "added_p50_ms": added,
    }


def test_the_medians_are_of_each_figure_over_the_rounds() -> None:
    rounds = [_round(1500, 500, 90, 1.2), _round(1300, 560, 110, 1.9), _round(1700, 520, 100, 1.4)]
    assert summarise(rounds) == {
        "calls_per_s": 1500,
        "cpu_us_per_call_on_the_path": 620,
        "cpu_us_per_call_beside": 100,
        "added_p50_ms": 1.4,
        "gateway_cpu_us_per_call": 520,
    }


def test_a_directory_that_is_no_checkout_is_refused_before_anything_starts(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, requests=10, concurrency=1, latency_samples=1)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        compare(args, out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()


def test_the_chain_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, transactions=1, reads=1, serial=1, sustained=1)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        chain_baseline.compare(args, out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()


def test_side_by_side_figures_carry_both_codes_medians_their_ratio_and_every_round(tmp_path: Path) -> None:
    rounds = {"baseline": [{"x": 2.0}, {"x": 4.0}], "this": [{"x": 3.0}, {"x": 3.0}]}
    summary = {"baseline": {"x": 3.0, "y": 0.0}, "this": {"x": 3.3, "y": 1.0}}
    commits = {"baseline": "10564a75", "this": "891b141b+"}
    written = write_side_by_side(rounds, summary, commits, "cmd", {"start": [0.1]}, tmp_path / "f.json")
    assert written["this_over_baseline"] == {"x": 1.1, "y": None}  # no ratio to a zero
    assert json.loads((tmp_path / "f.json").read_text()) == written
    assert written["rounds"] == rounds and written["medians"] == summary and written["command"] == "cmd"
    assert written["commits"] == commits and written["load_average"] == {"start": [0.1]}


def test_the_chain_runner_imports_nothing_of_this_trees_bench_at_its_top() -> None:
    """``bench/chain_baseline.py --one`` runs inside the other checkout, whose ``bench`` is older: the module's top
    imports only the standard library (its ``compare`` imports this tree's ``bench.common`` when it runs)."""
    tree = ast.parse(Path(chain_baseline.__file__).read_text(encoding="utf-8"))
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert names and all(name.split(".")[0] in sys.stdlib_module_names | {"__future__"} for name in names), names


def test_the_explorer_comparison_takes_its_figures_from_a_runs_results() -> None:
    recorded = json.loads((Path(explorer_baseline.ROOT) / "bench" / "results" / "explorer.json").read_text())
    figures = explorer_baseline.figures_of(recorded["results"])
    assert set(figures) == {name for name, _ in explorer_baseline.FIGURES}
    assert figures["provenance_cold_p99_ms"] == recorded["results"]["provenance"]["cold"]["p99_ms"]
    assert figures["export_calls_csv_rows_per_s"] == recorded["results"]["exports"][0]["rows_per_s"]


def test_the_explorer_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, events=None)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        explorer_baseline.compare(args, out=tmp_path / "figures.json")


def test_codes_are_measured_in_turn_round_after_round_each_figure_said(capsys: pytest.CaptureFixture[str]) -> None:
    """Every other round in the reverse order: neither code always runs right after the other."""
    asked: list[tuple[str, int, int]] = []

    def measure(label: str, code: int, n: int) -> dict[str, Any]:
        asked.append((label, code, n))
        return {"x": code * 10 + n}

    rounds = in_turn({"baseline": 1, "this": 2}, 3, measure, lambda row: f"x={row['x']}")
    assert asked == [
        ("baseline", 1, 1), ("this", 2, 1), ("this", 2, 2), ("baseline", 1, 2), ("baseline", 1, 3), ("this", 2, 3),
    ]  # fmt: skip
    assert rounds == {"baseline": [{"x": 11}, {"x": 12}, {"x": 13}], "this": [{"x": 21}, {"x": 22}, {"x": 23}]}
    assert capsys.readouterr().out.splitlines() == [
        "round 1 baseline x=11",
        "round 1 this     x=21",
        "round 2 this     x=22",
        "round 2 baseline x=12",
        "round 3 baseline x=13",
        "round 3 this     x=23",
    ]


def test_the_baseline_options_name_the_module_and_the_rounds_default() -> None:
    parser = argparse.ArgumentParser()
    baseline_options(parser, "chain", "measure its node", 3, "; --serial at most 5")
    assert parser.parse_args([]).rounds == 3 and parser.parse_args([]).baseline is None
    assert parser.parse_args(["--baseline", "x", "--rounds", "7"]).rounds == 7
    help_text = " ".join(parser.format_help().split())
    assert "bench/chain_baseline.py; figures in bench/results/chain_baseline.json; --serial at most 5" in help_text


def test_a_client_pem_holds_the_certificate_and_the_key_decrypted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret"))
    )
    (tmp_path / "cert.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
    out = write_client_pem(tmp_path / "cert.pem", tmp_path / "key.pem", b"secret", tmp_path / "client.pem")
    text = out.read_bytes()
    assert text.startswith(b"-----BEGIN CERTIFICATE-----") and b"ENCRYPTED" not in text
    loaded = load_pem_private_key(text[text.index(b"-----BEGIN PRIVATE KEY-----") :], None)
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert out.stat().st_mode & 0o777 == 0o600


def test_the_notary_comparison_takes_its_figures_from_a_runs_results() -> None:
    recorded = json.loads((Path(notary_baseline.ROOT) / "bench" / "results" / "notary.json").read_text())
    figures = notary_baseline.figures_of(recorded["results"])
    assert set(figures) == {name for name, _ in notary_baseline.FIGURES}
    assert figures["ingest_http_events_per_s"] == recorded["results"]["ingest_http"]["events_per_s"]
    assert figures["append_over_pymerkle"] == recorded["results"]["peer"]["ratio_ours_over_pymerkle"]["append"]


def test_the_notary_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    args = argparse.Namespace(baseline=tmp_path, rounds=1, events=None)
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        notary_baseline.compare(args, out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()


def store_args(tmp_path: Path, *sizes: str) -> argparse.Namespace:
    """``bench.store``'s options with ``--baseline tmp_path`` and ``sizes``."""
    from bench.store import options

    return options().parse_args(["--baseline", str(tmp_path), *sizes])


def test_the_store_comparison_passes_the_sizes_given_on_to_both_checkouts(tmp_path: Path) -> None:
    args = store_args(tmp_path, "--kinds", "lmdb", "sqlite", "--batches", "20", "--big-keys", "5000")
    assert store_baseline.size_options(args) == [
        "--kinds", "lmdb", "sqlite", "--batches", "20", "--batch-keys", "200", "--reads", "100000",
        "--big-keys", "5000", "--blocks", "200", "--txs", "50",
    ]  # fmt: skip
    assert args.rounds == 3


def test_the_store_comparison_takes_every_kinds_figures_from_a_runs_results() -> None:
    written = json.loads((Path(store_baseline.ROOT) / "bench" / "results" / "store.json").read_text())
    recorded = written["results"]
    kinds = list(recorded)
    figures = store_baseline.figures_of(written, kinds)
    assert len(figures) == len(kinds) * len(store_baseline.PER_KIND) + 1
    assert figures["memory_chain_blocks_per_s"] == written["chain_in_memory_baseline"]["blocks_per_s"]
    for kind in kinds:
        assert figures[f"{kind}_reads_per_s"] == recorded[kind]["batches"]["reads_per_s"]
        assert figures[f"{kind}_big_reads_per_s"] == recorded[kind]["big"]["reads_per_s"]
        assert figures[f"{kind}_chain_blocks_per_s"] == recorded[kind]["chain"]["blocks_per_s"]


def test_the_store_comparison_refuses_a_directory_that_is_no_checkout(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a checkout of this project"):
        store_baseline.compare(store_args(tmp_path, "--kinds", "lmdb"), out=tmp_path / "figures.json")
    assert not (tmp_path / "figures.json").exists()
