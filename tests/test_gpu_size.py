"""course gpu-size: runs copies of lectures in their GPU configuration and reports what they ran on.

Here on a tiny notebook (the real lectures at GPU size take minutes: `make gpu-size` runs them,
and CI runs `make gpu-size` after `make test`).
"""

import json
import re

import nbformat
import pytest

from course import gpu_size
from course.cli import main


def _notebook(path, cells):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


@pytest.mark.slow
def test_a_lecture_runs_at_gpu_size_on_a_copy_and_reports_backend_dtype_and_parameters(tmp_path, capsys):
    nb = _notebook(tmp_path / "05_demo.ipynb", [
        "import gradtools as gt, jax\nSIZE = gt.course_size()\nassert SIZE == 'gpu', SIZE",
        "N_PARAMS = 1_126_410\nprint('ran')",
    ])
    before = nb.read_bytes()
    out_json = tmp_path / "gpu.json"
    assert main(["gpu-size", str(nb), "--json", str(out_json)]) == 0
    assert nb.read_bytes() == before  # the stored notebook is never touched
    printed = capsys.readouterr().out
    assert "05_demo: backend cpu" in printed and "float32" in printed and "1,126,410 parameters" in printed
    row = json.loads(out_json.read_text())["lectures"][0]
    assert row["backend"] == "cpu" and row["dtype"] == "float32" and row["params"] == 1_126_410 and row["seconds"] > 0


@pytest.mark.slow
def test_a_failing_cell_fails_the_run_and_is_named(tmp_path, capsys):
    nb = _notebook(tmp_path / "06_demo.ipynb", ["x = 1", "assert x == 2, 'a float32 tolerance too tight'"])
    kept = tmp_path / "kept"
    assert main(["gpu-size", str(nb), "--keep", str(kept)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED 06_demo.ipynb at GPU size: cell 1 raised" in printed and "float32 tolerance too tight" in printed
    run = nbformat.read(kept / "06_demo.ipynb", as_version=4)  # the executed copy, with what it printed
    assert run.cells[1].outputs[0]["ename"] == "AssertionError" and not nbformat.read(nb, as_version=4).cells[1].outputs


def test_keep_never_overwrites_the_lecture(tmp_path, capsys):
    nb = _notebook(tmp_path / "05_demo.ipynb", ["x = 1"])
    before = nb.read_bytes()
    with pytest.raises(ValueError, match="would overwrite the lecture"):
        gpu_size.main([str(nb)], keep=str(tmp_path))
    assert nb.read_bytes() == before


def test_a_missing_notebook_is_a_user_error(tmp_path, capsys):
    assert main(["gpu-size", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_every_lecture_with_a_gpu_configuration_is_rehearsed():
    """A lecture takes its GPU configuration from the one switch (gt.course_size(), COURSE_SIZE),
    never from jax.default_backend() (which make gpu-size cannot set on a CPU), and make gpu-size
    runs every lecture that has one."""
    import nbformat

    switching = []
    for path in sorted((gpu_size.ROOT / "lectures").glob("*.ipynb")):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert not re.search(r"default_backend\(\)\s*==", code), (
            f"{path.name} switches its configuration on jax.default_backend(): use gt.course_size() == 'gpu', "
            "so that COURSE_SIZE=gpu (make gpu-size) rehearses it")
        if "course_size()" in code:
            switching.append(path.stem)
            assert re.search(r"^N_PARAMS\s*=", code, re.M), (
                f"{path.name} has a GPU configuration but defines no N_PARAMS (its largest model's parameter "
                "count), which course gpu-size reports")
    assert tuple(switching) == gpu_size.GPU_LECTURES, (
        f"lectures with a GPU configuration {switching}, rehearsed by make gpu-size {gpu_size.GPU_LECTURES}")
