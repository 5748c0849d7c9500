"""Execute notebooks in place, the one way their stored outputs are made.

CI compares the stored outputs with nbval, so they must come from this command: a fresh kernel in
the current environment, JAX on the CPU, cells run top to bottom, and metadata that changes from
run to run (widget state, timings) stripped so that re-executing an unchanged notebook changes
nothing but images.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "gradtools-course"
KERNEL_DISPLAY = "Python 3 (geometry of training)"


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip run-dependent metadata and pin the kernelspec to the course kernel."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_DISPLAY, "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
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
    normalize(nb)
    nbformat.write(nb, path)
