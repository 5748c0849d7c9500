"""`python -m course execute` stores outputs the way nbval will compare them."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.cli import main
from course.execute import KERNEL_NAME, WIDGET_STATE, WIDGET_VIEW, add_widget_pictures, normalize


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


def test_widget_output_gets_the_picture_it_drew(tmp_path):
    # Any explorer built like gradtools.widgets (sliders wired to an Output widget that shows a
    # matplotlib figure) is stored with a picture of its plot, readable before the cell runs.
    import base64

    nb = new_notebook(cells=[
        new_code_cell("%matplotlib inline\nimport ipywidgets as w\nimport matplotlib.pyplot as plt"),
        new_code_cell(
            "# NBVAL_IGNORE_OUTPUT\n"
            "s = w.FloatSlider(value=1.0, min=0.0, max=2.0, continuous_update=False)\n"
            "def draw(a):\n    plt.plot([0, 1], [0, a]); plt.show()\n"
            "w.VBox([s, w.interactive_output(draw, {'a': s})])"
        ),
    ])
    path = tmp_path / "explorer.ipynb"
    nbformat.write(nb, path)
    assert main(["execute", str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "the widget state itself is not stored"
    (out,) = nb.cells[1].outputs
    assert set(out.data) == {WIDGET_VIEW, "image/png", "text/plain"}
    assert base64.b64decode(out.data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def _png(width, height):
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_add_widget_pictures_stacks_nested_outputs_and_skips_widgets_without_one():
    from PIL import Image
    import base64
    import io

    state = {
        "box": {"state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_out1", "IPY_MODEL_inner"]}},
        "slider": {"state": {"value": 1.0}},
        "out1": {"state": {"outputs": [{"output_type": "display_data", "data": {"image/png": _png(10, 4)}}]}},
        "inner": {"state": {"children": ["IPY_MODEL_out2", "IPY_MODEL_box"]}},  # a cycle is harmless
        "out2": {"state": {"outputs": [{"output_type": "display_data", "data": {"image/png": _png(6, 5)}}]}},
        "lonely": {"state": {"value": 0}},
    }
    nb = new_notebook(cells=[new_code_cell("x"), new_code_cell("y")])
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {WIDGET_VIEW: {"model_id": "box"}, "text/plain": "VBox()"})]
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", {WIDGET_VIEW: {"model_id": "lonely"}, "text/plain": "IntSlider()"})]
    assert add_widget_pictures(nb) == 1
    picture = Image.open(io.BytesIO(base64.b64decode(nb.cells[0].outputs[0].data["image/png"])))
    assert picture.size == (10, 9), "two plots stacked top to bottom"
    assert "image/png" not in nb.cells[1].outputs[0].data
    assert add_widget_pictures(nb) == 0, "a picture is added once"


def test_a_static_renderer_shows_the_widget_picture():
    # nbconvert's HTML (what nbviewer shows) picks the picture over the widget's text repr.
    nbconvert = pytest.importorskip("nbconvert")
    state = {"box": {"state": {"outputs": [{"output_type": "display_data", "data": {"image/png": _png(8, 8)}}]}}}
    nb = new_notebook(cells=[new_code_cell("explorer()")])
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "execute_result", {WIDGET_VIEW: {"model_id": "box"}, "text/plain": "VBox(children=(FloatSlider(),))"},
        execution_count=1)]
    add_widget_pictures(nb)
    normalize(nb)
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    body = html[html.find("<body"):]
    assert "data:image/png;base64," in body and "VBox(" not in body


def test_normalize_joins_a_cells_consecutive_prints_to_one_stream():
    # The kernel splits prints into messages by timing; the stored notebook must not depend on it.
    out = nbformat.v4.new_output
    cell = nbformat.v4.new_code_cell("print(1); print(2)", outputs=[
        out("stream", name="stdout", text="1\n"), out("stream", name="stdout", text="2\n"),
        out("stream", name="stderr", text="warn\n"), out("stream", name="stdout", text="3\n"),
        out("execute_result", data={"text/plain": "4"}, execution_count=1), out("stream", name="stdout", text="5\n")])
    nb = normalize(nbformat.v4.new_notebook(cells=[cell]))
    got = [(o.output_type, o.get("name"), o.get("text")) for o in nb.cells[0].outputs]
    assert got == [("stream", "stdout", "1\n2\n"), ("stream", "stderr", "warn\n"), ("stream", "stdout", "3\n"),
                   ("execute_result", None, None), ("stream", "stdout", "5\n")]
