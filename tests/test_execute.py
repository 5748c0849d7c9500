"""`python -m course execute` stores outputs the way nbval will compare them."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.cli import main
from course.execute import KERNEL_NAME, normalize


def _notebook(path):
    nb = new_notebook(
        cells=[
            new_markdown_cell("# A tiny lecture"),
            new_code_cell("import os\nprint(os.environ['JAX_PLATFORMS'])"),
            new_code_cell("import gradtools as gt\nprint(gt.fmt(2 / 3))"),
        ]
    )
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2020-01-01"}
    nbformat.write(nb, path)


def test_execute_stores_outputs_and_normalizes(tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    _notebook(path)
    assert main(["execute", str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata
    assert nb.metadata.kernelspec.name == KERNEL_NAME
    assert "execution" not in nb.cells[1].metadata
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"]
    assert texts == ["cpu\n", "0.6667\n"]
    first = path.read_text()
    assert main(["execute", str(path)]) == 0
    assert path.read_text() == first, "re-executing an unchanged notebook must not change it"
    assert "executed" in capsys.readouterr().out


def test_execute_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["execute", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "nope.ipynb" in err and "Traceback" not in err


def test_normalize_is_idempotent():
    nb = new_notebook(cells=[new_code_cell("1")])
    once = nbformat.writes(normalize(nb))
    assert nbformat.writes(normalize(nbformat.reads(once, as_version=4))) == once
