"""Lectures and exercises open on a hosted notebook service (Colab, Kaggle, Binder).

Their first code cell installs the course when gradtools is missing, from the repository URL
configured once in pyproject.toml ([tool.course] repository), and the metadata of lectures 5 and 6
asks for a GPU runtime (course/hosted.py writes both: `python -m course hosted`). The test that runs the install
cell in a bare virtual environment against a wheel built from this checkout takes a minute and a
half (pip installs JAX and JupyterLab from its cache), so it runs with the GPU-size rehearsal
(`make gpu-size`, COURSE_REHEARSAL=1), which CI runs after `make test`.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course import hosted
from course.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_every_lecture_and_exercise_carries_the_install_cell_in_step_with_pyproject():
    stale = hosted.sync(check=True)
    assert not stale, f"{stale}: run `python -m course hosted` (pyproject.toml's [tool.course] repository changed?)"
    paths = [*hosted.notebooks(), *sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))]
    assert len(paths) >= 18
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert first_code.get("id") == hosted.CELL_ID, f"{path.name}: the install cell must be the first code cell"
        assert first_code.source == hosted.install_cell_source(hosted.repository_url()), path
        gpu = path.parent.name == "lectures" and path.stem in hosted.GPU_LECTURES
        assert (nb.metadata.get("accelerator") == "GPU") == gpu, f"{path}: GPU metadata only on lectures 5 and 6"
        if gpu:
            assert nb.metadata["kaggle"]["accelerator"] == "gpu"


def test_the_install_cell_does_nothing_where_the_course_is_installed():
    code = hosted.install_cell_source("https://example.org/never/used")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "", out.stderr


def test_repository_url_is_read_and_checked(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.course]\nrepository = "https://github.com/o/r/"\n')
    assert hosted.repository_url(tmp_path) == "https://github.com/o/r"
    (tmp_path / "pyproject.toml").write_text('[tool.course]\nrepository = "github.com/o/r"\n')
    with pytest.raises(ValueError, match="https://"):
        hosted.repository_url(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert hosted.repository_url(tmp_path) == ""
    assert hosted.launch_links("06_geodesics", "") == {}
    links = hosted.launch_links("06_geodesics", "https://github.com/o/r")
    assert links["colab"] == "https://colab.research.google.com/github/o/r/blob/main/lectures/06_geodesics.ipynb"


def test_sync_writes_the_cell_once_and_check_sees_a_stale_url(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# L"), nbformat.v4.new_code_cell("import jax")])
    (tmp_path / "lectures").mkdir()
    path = tmp_path / "lectures" / "06_geodesics.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "pyproject.toml").write_text('[tool.course]\nrepository = "https://github.com/o/r"\n')
    assert hosted.sync([path], root=tmp_path) == [str(path)]
    assert hosted.sync([path], root=tmp_path, check=True) == []  # idempotent
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].id == hosted.CELL_ID and "https://github.com/o/r" in cells[1].source and cells[2].source == "import jax"
    assert nbformat.read(path, as_version=4).metadata["accelerator"] == "GPU"
    (tmp_path / "pyproject.toml").write_text('[tool.course]\nrepository = "https://github.com/o/other"\n')
    assert hosted.sync([path], root=tmp_path, check=True) == [str(path)]


@pytest.mark.skipif(os.environ.get("COURSE_REHEARSAL") != "1", reason="runs with `make gpu-size` (COURSE_REHEARSAL=1)")
@pytest.mark.timeout(900)
def test_the_install_cell_installs_the_course_into_a_bare_venv_from_a_wheel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("geometry_of_training-*.whl"))
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    code = next(c.source for c in nbformat.read(ROOT / "lectures" / "06_geodesics.ipynb", as_version=4).cells
                if c.get("id") == hosted.CELL_ID)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if not hosted.repository_url():  # with no repository configured, the cell says so instead of guessing
        # run outside the checkout: from its root, `gradtools/` itself would be importable
        out = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
        assert out.returncode != 0 and "names no repository" in out.stderr
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=900, cwd=tmp_path,
                         env={**env, "COURSE_INSTALL_FROM": str(wheel)})
    assert out.returncode == 0, out.stderr[-2000:]
    check = textwrap.dedent("""
        import gradtools, course.integrity, jax
        print(gradtools.__file__, jax.default_backend())
    """)
    out = subprocess.run([py, "-c", check], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert str(venv) in out.stdout  # imported from the bare venv, not from this checkout


def test_the_hosted_command_checks_and_writes(tmp_path, capsys):
    assert main(["hosted", "--check", str(tmp_path / "missing.ipynb")]) == 2
