"""Execute notebooks in place, the one way their stored outputs are made.

CI compares the stored outputs with nbval, so they must come from this command: a fresh kernel in
the current environment, JAX on the CPU, cells run top to bottom, and metadata that changes from
run to run (widget state, timings) stripped so that re-executing an unchanged notebook changes
nothing but images.

A widget cell's stored output would read ``VBox(children=(HBox(...`` until the cell runs again:
JupyterLab renders widgets only from a live kernel (or, in a trusted notebook, from saved widget
state), and static renderers not at all. So before the widget state is dropped, the picture the
widget drew at execution time (the PNGs its Output widgets captured) is added to the widget's
output as ``image/png``: JupyterLab shows it in an untrusted notebook (a notebook fresh from
disk), GitHub and nbviewer show it, and once the cell runs the live widget replaces it. This works
for any explorer built like ``gradtools.widgets`` (sliders wired to an Output widget), with no code
in the explorer itself.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "gradtools-course"
KERNEL_DISPLAY = "Python 3 (geometry of training)"


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MAX_PICTURE_BYTES = 400_000  # a widget's stored picture (base64); larger ones are left out


def _widget_pngs(states: dict, model_id: str, seen: set[str] | None = None) -> list[str]:
    """The PNGs (base64) that widget ``model_id`` and the widgets it contains display, in order."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in states:
        return []
    seen.add(model_id)
    state = states[model_id].get("state", {})
    pngs = []
    for out in state.get("outputs", []) or []:  # an Output widget: what it captured
        data = out.get("data", {}) if isinstance(out, dict) else {}
        if "image/png" in data:
            pngs.append(data["image/png"])
        elif WIDGET_VIEW in data:
            pngs += _widget_pngs(states, data[WIDGET_VIEW].get("model_id", ""), seen)
    for child in state.get("children", []) or []:  # a box: its children, top to bottom
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            pngs += _widget_pngs(states, child[len("IPY_MODEL_"):], seen)
    return pngs


def _stack_pngs(pngs: list[str]) -> str:
    """One PNG (base64) of ``pngs`` stacked top to bottom (itself if there is one)."""
    if len(pngs) == 1:
        return pngs[0]
    from PIL import Image  # matplotlib's own dependency

    images = [Image.open(io.BytesIO(base64.b64decode(p))).convert("RGBA") for p in pngs]
    canvas = Image.new("RGBA", (max(i.width for i in images), sum(i.height for i in images)), "white")
    y = 0
    for image in images:
        canvas.paste(image, (0, y))
        y += image.height
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def add_widget_pictures(nb: nbformat.NotebookNode) -> int:
    """Add the picture each widget drew (from the saved widget state) to its output, as ``image/png``.

    Returns the number of widget outputs that got a picture. Widgets that drew none, and pictures
    over ``MAX_PICTURE_BYTES``, are left as they are.
    """
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    added = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if WIDGET_VIEW not in data or "image/png" in data:
                continue
            pngs = _widget_pngs(states, data[WIDGET_VIEW].get("model_id", ""))
            if pngs:
                png = _stack_pngs(pngs)
                if len(png) <= MAX_PICTURE_BYTES:
                    data["image/png"] = png
                    added += 1
    return added


def _coalesce_streams(outputs: list) -> list:
    """Consecutive prints to the same stream as one output: how the kernel split them into messages
    depends on timing (a loaded machine flushes more often), and the stored notebook should not."""
    merged = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            text = out.get("text", "")
            prev["text"] = "".join(prev.get("text", "")) + ("".join(text) if isinstance(text, list) else text)
        else:
            merged.append(out)
    return merged


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip run-dependent metadata, pin the kernelspec to the course kernel, and join each cell's
    consecutive prints to one stream into one output."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY, "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code" and cell.get("outputs"):
            cell.outputs = _coalesce_streams(cell.outputs)
    return nb


def execute_notebook(path: str | os.PathLike, *, timeout: int = 600, allow_errors: bool = False) -> None:
    """Run ``path`` top to bottom in a fresh kernel of this environment and store its outputs."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["GRADTOOLS_PROGRESS"] = "0"  # stored outputs hold no progress bar
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",  # this environment's own interpreter
        allow_errors=allow_errors,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    add_widget_pictures(nb)  # before normalize() drops the widget state it reads
    normalize(nb)
    nbformat.write(nb, path)
