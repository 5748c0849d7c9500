"""Build the course's website from the stored notebooks: `make site` (or `python site/build.py`).

Lays out the pages in BUILD/site-src/ (copies: the notebooks in the repository are never touched),
then runs Sphinx (site/conf.py) into BUILD/html/. Nothing is executed: the pages show the outputs
stored in the notebooks.

- the home page: the README's overview (up to the instructors' part), its links to notebooks
  turned into links to their pages, links to other repository files into links to the repository
  (or plain text when none is configured);
- the start page, every lecture (lectures/NN_*.ipynb) and every released exercise
  (exercises/NN_*.ipynb, never solutions/), in syllabus order (course/syllabus.toml), with notebooks
  the syllabus does not list yet after them;
- a references page from site/references.bib.

Warnings that matter fail the build (-W: a broken link or cross-reference, an unreadable notebook,
an unknown citation); harmless ones are silenced in site/conf.py. Every build reads every page
(-E): a full build takes seconds, and a changed .bib or extension then cannot leave stale pages.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote

SITE = Path(__file__).resolve().parent
ROOT = SITE.parent
sys.path.insert(0, str(ROOT))

INSTRUCTORS_MARK = "<!-- instructors:start -->"
OMIT = re.compile(r"<!-- site:omit-start -->.*?<!-- site:omit-end -->\n?", re.S)
NOTEBOOK = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (an unchanged page is not read again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copy2(src, dst)


def notebooks(only: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(folder, slug, title) of every page's notebook, in syllabus order: start page, lectures, exercises."""
    from course.syllabus import load_syllabus

    order = {lec.slug: (lec.number, lec.title) for lec in load_syllabus()}
    out = []
    for folder in ("lectures", "exercises"):  # never solutions/
        found = sorted(p.stem for p in (ROOT / folder).glob("*.ipynb") if NOTEBOOK.match(p.name))
        found.sort(key=lambda s: (s not in order and s != "00_start_here", order.get(s, (0,))[0], s))
        for slug in found:
            if only is not None and slug not in only:
                continue
            number, title = order.get(slug, (None, None))
            if title is None:
                title = _notebook_title(ROOT / folder / f"{slug}.ipynb") or slug
            elif folder == "lectures":
                title = f"{number}. {title}"
            else:
                title = f"Exercises {number}: {title}"
            out.append((folder, slug, title))
    return out


def _notebook_title(path: Path) -> str | None:
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    return None


def relink(text: str, base: str, pages: set[str], repository: str, branch: str = "main",
           assets: list[str] | None = None) -> str:
    """Markdown ``text`` of a file in folder ``base`` with its links fit for the site.

    A link to another page of the site stays (Sphinx resolves it); an image in the repository stays
    and is added to ``assets`` (copied next to the pages); a link to any other file of the
    repository (CONTRIBUTING.md, a solution notebook, a module) points to the repository when one is
    configured, and otherwise becomes plain text: the site has no page for it, and no link is faked.
    """
    def one(m: re.Match) -> str:
        bang, label, target = m.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
            return m.group(0)
        path, _, _ = target.partition("#")
        rel = posixpath.normpath(posixpath.join(base, unquote(path)))
        if rel in pages and not bang:
            return m.group(0)
        if bang and not rel.startswith("..") and (ROOT / rel).is_file():
            if assets is not None:
                assets.append(rel)
            return m.group(0)
        if repository and not rel.startswith(".."):
            kind = "tree" if (ROOT / rel).is_dir() else "blob"
            return f"{bang}[{label}]({repository}/{kind}/{branch}/{rel}{target[len(path):]})"
        return "" if bang else label

    return LINK.sub(one, text)


def home_page(readme: str, pages: set[str], repository: str, branch: str = "main") -> tuple[str, list[str]]:
    """The README's overview as the site's home page, and the repository files it shows (images).

    ``pages`` are the source paths of the site's pages ("lectures/01_linear_regression.ipynb").
    """
    text = readme.split(INSTRUCTORS_MARK, 1)[0]
    text = re.split(r"^## For instructors\b", text, maxsplit=1, flags=re.M)[0]
    text = OMIT.sub("", text)
    assets: list[str] = []
    return relink(text, "", pages, repository, branch, assets).rstrip() + "\n", assets


def notebook_page(path: Path, folder: str, pages: set[str], repository: str, assets: list[str]) -> bytes:
    """The notebook at ``path`` as the site shows it: its markdown links fit for the site (else unchanged bytes)."""
    import nbformat

    raw = path.read_bytes()
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source = relink(cell.source, folder, pages, repository, assets=assets)
            if source != cell.source:
                cell.source, changed = source, True
    return nbformat.writes(nb).encode("utf-8") if changed else raw


def toctrees(pages: list[tuple[str, str, str]]) -> str:
    groups = {"Start here": [], "Lectures": [], "Exercises": []}
    for folder, slug, title in pages:
        group = "Start here" if slug == "00_start_here" else "Lectures" if folder == "lectures" else "Exercises"
        groups[group].append(f"{title} <{folder}/{slug}>")
    groups["Back matter"] = ["references"]
    out = []
    for caption, entries in groups.items():
        if entries:
            out.append("```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n")
    return "\n".join(out)


REFERENCES = """# References

Every work the lectures cite, from one bibliography file (`site/references.bib`). A citation in a
lecture's text links to its entry here.

```{bibliography}
:all:
```
"""


def prepare(src: Path, *, repository: str, only: list[str] | None = None) -> list[tuple[str, str, str]]:
    """Lay out the pages in ``src``; return the notebooks' (folder, slug, title)."""
    pages = notebooks(only)
    page_paths = {f"{f}/{s}.ipynb" for f, s, _ in pages}
    wanted: set[Path] = set()
    index, assets = home_page((ROOT / "README.md").read_text(), page_paths, repository)
    for folder, slug, _ in pages:
        dst = src / folder / f"{slug}.ipynb"
        content = notebook_page(ROOT / folder / f"{slug}.ipynb", folder, page_paths, repository, assets)
        if not dst.exists() or dst.read_bytes() != content:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(content)
        wanted.add(dst)
    for asset in assets:
        _copy(ROOT / asset, src / asset)
        wanted.add(src / asset)
    for name, text in (("index.md", index + "\n" + toctrees(pages)), ("references.md", REFERENCES)):
        _write(src / name, text)
        wanted.add(src / name)
    _copy(SITE / "references.bib", src / "references.bib")
    wanted.add(src / "references.bib")
    for path in sorted(src.rglob("*"), reverse=True):  # a notebook removed from the course leaves the site
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python site/build.py")
    parser.add_argument("--build-dir", default=str(ROOT / "_build"),
                        help="where to build: BUILD/html (the site), BUILD/site-src, BUILD/doctrees (default: _build)")
    parser.add_argument("--repository", default=None,
                        help="repository URL for the launch links (default: pyproject.toml's [tool.course] repository; '' for none)")
    parser.add_argument("--jupyterhub", default=None,
                        help="JupyterHub URL for the launch links (default: pyproject.toml's [tool.course] jupyterhub)")
    parser.add_argument("--only", nargs="+", metavar="SLUG", help="build only these notebooks (and the home and references pages)")
    parser.add_argument("-j", "--jobs", default=os.environ.get("SITE_JOBS", "1"), help="Sphinx's parallel jobs (default 1)")
    args = parser.parse_args(argv)

    from course import hosted
    from sphinx.cmd.build import build_main

    build = Path(args.build_dir).resolve()
    src, out, doctrees = build / "site-src", build / "html", build / "doctrees"
    repository = hosted.repository_url(ROOT) if args.repository is None else args.repository.strip().rstrip("/")
    start = time.perf_counter()
    pages = prepare(src, repository=repository, only=args.only)
    sphinx_args = ["-b", "html", "-c", str(SITE), "-d", str(doctrees), "-E", "-W", "--keep-going", "-q", "-j", str(args.jobs),
                   "-D", f"course_repository={repository}"]
    if args.jupyterhub is not None:
        sphinx_args += ["-D", f"course_jupyterhub={args.jupyterhub}"]
    rc = build_main([*sphinx_args, str(src), str(out)])
    elapsed = time.perf_counter() - start
    if rc:
        print(f"site: the build failed (exit {rc}); see the warnings above", file=sys.stderr)
        return rc
    n_html = sum(1 for _ in out.glob("**/*.html") if "_static" not in _.parts)
    print(f"site: {len(pages)} notebooks, {n_html} pages in {out} ({elapsed:.1f} s); open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
