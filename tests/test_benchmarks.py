"""The benchmark script runs and writes its table (on a tiny model: this checks it, not speed)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_runs_and_writes_readme_block(tmp_path, monkeypatch, capsys):
    bench = _load()
    monkeypatch.setitem(bench.MODELS, "26k", (6, 5, 3))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\nrest\n")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    assert bench.main(["--models", "26k", "--batch", "4", "--repeats", "1", "--write-readme"]) == 0
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    for op in ("gradient", "hvp", "gnvp", "fisher_mvp", "natural_gradient_step", "dense Hessian",
               "train_bezier", "geodesic (", "fip_step", "geodesic_acceleration"):
        assert f"| {op}" in text, op
    n = 6 * 5 + 5 + 5 * 3 + 3
    assert f"({n:,})" in text
    assert "| gradtools / baseline |" in capsys.readouterr().out
