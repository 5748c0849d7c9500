"""Notebooks that open on hosted notebook services (Colab, Kaggle, Binder): ``python -m course hosted``.

A hosted notebook starts with nothing of the course installed. Every lecture and every exercise
notebook therefore carries, as its first code cell, an install cell that does nothing where
``gradtools`` is importable (a clone after ``make lab``, the grader, the tests) and otherwise
installs the course from the repository URL configured once, in ``pyproject.toml``::

    [tool.course]
    repository = "https://github.com/OWNER/REPO"

The GPU-size lectures (5 and 6) also carry the notebook metadata that asks the service for a GPU
runtime. This module writes both from that one setting into ``lectures/`` and ``solutions/`` (the
release copies the cell into ``exercises/``), and ``--check`` (run by the tests) fails when a
notebook is out of step with it. With no repository configured, the cell says how to install the
course instead of pretending to: no URL is invented.

``COURSE_INSTALL_FROM`` overrides the source (a wheel, a folder, a ``git+`` URL); the tests use
it to install a wheel built from the checkout into a bare virtual environment.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Sequence
from urllib.parse import urlencode

import nbformat

ROOT = Path(__file__).resolve().parents[1]
GPU_LECTURES = ("05_rashomon_manifold", "06_geodesics")
CELL_ID = "course-install"
DISTRIBUTION = "geometry-of-training"

#: Notebook metadata that asks Colab and Kaggle for a GPU runtime.
GPU_METADATA = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4", "provenance": []},
    "kaggle": {"accelerator": "gpu", "isGpuEnabled": True, "isInternetEnabled": True},
}

_TEMPLATE = '''\
# On a hosted notebook service (Colab, Kaggle, Binder) the course is not installed yet: this cell
# installs it, with JAX's CUDA build when there is a GPU. Where gradtools is installed it does nothing.
import importlib.util

if importlib.util.find_spec("gradtools") is None:
    import os, pathlib, shutil, subprocess, sys

    REPOSITORY = {url!r}  # from pyproject.toml, [tool.course] repository
    source = os.environ.get("COURSE_INSTALL_FROM") or (f"git+{{REPOSITORY}}" if REPOSITORY else "")
    if not source:
        raise RuntimeError("gradtools is not installed, and this copy of the course names no repository to install "
                           "it from: clone the course and run `make lab`, or `pip install` a copy of it here")
    if os.path.exists(source):
        source = pathlib.Path(source).resolve().as_uri()
    extra = "[gpu]" if shutil.which("nvidia-smi") else ""
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", f"{distribution}{{extra}} @ {{source}}"])
    importlib.invalidate_caches()'''


def repository_url(root: str | Path = ROOT) -> str:
    """The repository URL of ``pyproject.toml``'s ``[tool.course] repository`` ("" when unset)."""
    with (Path(root) / "pyproject.toml").open("rb") as fh:
        data = tomllib.load(fh)
    url = data.get("tool", {}).get("course", {}).get("repository", "")
    if not isinstance(url, str):
        raise ValueError(f"pyproject.toml: [tool.course] repository must be a string URL, got {url!r}")
    url = url.strip().rstrip("/")
    if url and not url.startswith(("https://", "http://")):
        raise ValueError(f"pyproject.toml: [tool.course] repository must be an https:// URL, got {url!r}")
    return url


def install_cell_source(url: str) -> str:
    """The source of the install cell for repository ``url`` ("" for none)."""
    return _TEMPLATE.format(url=url, distribution=DISTRIBUTION)


def _sync_one(nb: nbformat.NotebookNode, url: str, gpu: bool) -> bool:
    """Put the install cell (and, for a GPU lecture, the GPU metadata) into ``nb``; True when something changed."""
    source = install_cell_source(url)
    changed = False
    cell = next((c for c in nb.cells if c.get("id") == CELL_ID), None)
    if cell is None:
        first_code = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        cell = nbformat.v4.new_code_cell(source, id=CELL_ID)
        nb.cells.insert(first_code, cell)
        changed = True
    elif cell.source != source or cell.cell_type != "code" or cell.get("outputs"):
        cell.cell_type, cell.source, cell.outputs, cell.execution_count = "code", source, [], None
        changed = True
    for key, value in GPU_METADATA.items():
        if gpu and nb.metadata.get(key) != value:
            nb.metadata[key] = value
            changed = True
        elif not gpu and key in nb.metadata:
            del nb.metadata[key]
            changed = True
    return changed


def notebooks(root: str | Path = ROOT) -> list[Path]:
    """The notebooks that carry the install cell: every lecture and solution ``NN_topic.ipynb``
    (exercises get it from their solution through the release; the start page needs none)."""
    root = Path(root)
    return [p for d in ("lectures", "solutions") for p in sorted((root / d).glob("[0-9][0-9]_*.ipynb"))
            if not p.stem.startswith("00_")]


def sync(paths: Sequence[str | Path] = (), *, check: bool = False, root: str | Path = ROOT) -> list[str]:
    """Write (or, with ``check``, only compare) the install cell and GPU metadata of each notebook.

    Args:
        paths: notebooks (default: :func:`notebooks`).
        check: write nothing.

    Returns:
        The notebooks that were (or, with ``check``, would be) changed.
    """
    url = repository_url(root)
    paths = [Path(p) for p in paths] or notebooks(root)
    out = []
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        gpu = p.parent.name == "lectures" and p.stem in GPU_LECTURES
        if _sync_one(nb, url, gpu):
            out.append(str(p))
            if not check:
                nbformat.write(nb, p)
    return out


def launch_links(slug: str, url: str, branch: str = "main", *, folder: str = "lectures",
                 jupyterhub: str = "") -> dict[str, str]:
    """Links that open ``FOLDER/SLUG.ipynb`` of repository ``url`` on hosted services ({} for no URL).

    ``jupyterhub`` (a hub's URL, e.g. ``[tool.course] jupyterhub``) adds an nbgitpuller link that
    clones or updates the repository in the user's hub and opens the notebook in JupyterLab; it is
    drawn only when both URLs are set. Only GitHub repositories have Colab and Binder links (those
    services read GitHub). Nothing is invented: with no repository URL there are no links.

    >>> launch_links("01_linear_regression", "")
    {}
    >>> links = launch_links("01_linear_regression", "https://github.com/o/r", jupyterhub="https://hub.example.org/")
    >>> links["binder"]
    'https://mybinder.org/v2/gh/o/r/main?labpath=lectures/01_linear_regression.ipynb'
    >>> links["jupyterhub"]
    'https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A//github.com/o/r&urlpath=lab/tree/r/lectures/01_linear_regression.ipynb&branch=main'
    """
    if not url:
        return {}
    links = {}
    path = f"{folder}/{slug}.ipynb"
    hub = (jupyterhub or "").strip().rstrip("/")
    if hub:
        clone = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        query = urlencode({"repo": url, "urlpath": f"lab/tree/{clone}/{path}", "branch": branch}, safe="/")
        links["jupyterhub"] = f"{hub}/hub/user-redirect/git-pull?{query}"
    if url.startswith("https://github.com/"):
        owner_repo = url[len("https://github.com/"):]
        links["binder"] = f"https://mybinder.org/v2/gh/{owner_repo}/{branch}?labpath={path}"
        links["colab"] = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/{path}"
    return links
