"""The course's Sphinx extension: citations linked to the references page, launch links, MathJax served locally.

- **Citations.** The lectures cite works in their own words ("Kunstner et al. (2019)", "F. Kunstner,
  L. Balles and P. Hennig (2019)", "(Amari, 1998)", "Garipov et al. 2018"). After Sphinx resolves a
  page, each citation of a work in ``site/references.bib`` becomes a link to that work's entry on
  the references page. The notebooks are not edited: the links are added to the page, driven by
  the .bib file (see :class:`Citations` for the rule).
- **Launch links.** Each lecture (and exercise) page gets a launch menu in the book theme's header:
  JupyterHub, Binder and Colab links from ``course.hosted.launch_links``, built from the one
  repository URL of ``pyproject.toml`` (``[tool.course] repository``, and ``jupyterhub`` for the
  hub). With no repository URL there is no launch menu. ``-D course_repository=URL`` and
  ``-D course_jupyterhub=URL`` override ``pyproject.toml`` for one build (``site/build.py
  --repository``), which the tests use.
- **MathJax offline.** Sphinx loads MathJax from a CDN by default. This extension copies MathJax 3
  from an installed PyPI package (``django-static-mathjax``, the official ``es5`` build, no Django
  needed) into ``_static/mathjax/``, so math, its fonts and its menu are served by the site itself.
"""

from __future__ import annotations

import bisect
import importlib.util
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
MATHJAX_PACKAGE = "mathjax"  # the import name of django-static-mathjax
# What the tex-chtml component loads at run time: TeX extensions (autoload), the CommonHTML output
# and its fonts, the menu and its accessibility modules. The SVG and "full" bundles are not needed.
MATHJAX_PARTS = ("tex-chtml.js", "input", "output/chtml.js", "output/chtml", "ui", "a11y", "adaptors", "sre")


# --- configuration --------------------------------------------------------------------------------


def course_settings(root: Path = ROOT) -> dict:
    """``[tool.course]`` of pyproject.toml."""
    with (root / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh).get("tool", {}).get("course", {})


def _resolve_urls(app: Sphinx, config) -> None:
    """Fill ``course_repository``/``course_jupyterhub`` from pyproject.toml unless given, and the theme's repository button."""
    from course import hosted

    if config.course_repository is None:
        config.course_repository = hosted.repository_url(ROOT)
    config.course_repository = (config.course_repository or "").strip().rstrip("/")
    if config.course_jupyterhub is None:
        hub = course_settings().get("jupyterhub", "")
        if not isinstance(hub, str):
            raise ValueError(f"pyproject.toml: [tool.course] jupyterhub must be a string URL, got {hub!r}")
        config.course_jupyterhub = hub
    config.course_jupyterhub = (config.course_jupyterhub or "").strip().rstrip("/")
    if config.course_jupyterhub and not config.course_repository:
        logger.info("course_site: a JupyterHub is configured but no repository: no launch links")
    opts = dict(config.html_theme_options or {})
    if config.course_repository:
        opts.update(repository_url=config.course_repository, use_repository_button=True,
                    repository_branch=config.course_branch)
    else:
        opts.pop("repository_url", None)
        opts["use_repository_button"] = False
    config.html_theme_options = opts


# --- launch links ---------------------------------------------------------------------------------

LAUNCH_BUTTONS = {  # key of course.hosted.launch_links -> (text, icon shipped by sphinx-book-theme)
    "jupyterhub": ("JupyterHub", "_static/images/logo_jupyterhub.svg"),
    "binder": ("Binder", "_static/images/logo_binder.svg"),
    "colab": ("Colab", "_static/images/logo_colab.png"),
}


def notebook_of_page(pagename: str) -> tuple[str, str] | None:
    """(folder, slug) for the page of ``lectures/SLUG.ipynb`` or ``exercises/SLUG.ipynb``."""
    folder, _, slug = pagename.partition("/")
    if folder in ("lectures", "exercises") and slug and "/" not in slug:
        return folder, slug
    return None


def add_launch_links(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    from course import hosted

    where = notebook_of_page(pagename)
    if where is None or "header_buttons" not in context:
        return
    links = hosted.launch_links(where[1], app.config.course_repository, app.config.course_branch,
                                folder=where[0], jupyterhub=app.config.course_jupyterhub)
    if not links:
        return  # no repository configured: no launch menu, and no invented link
    buttons = [
        {"type": "link", "text": text, "tooltip": f"Open this notebook on {text}",
         "icon": icon, "url": links[key], "label": f"launch-{key}"}
        for key, (text, icon) in LAUNCH_BUTTONS.items() if key in links
    ]
    context["header_buttons"].insert(0, {
        "type": "group", "tooltip": "Run this notebook", "icon": "fas fa-rocket",
        "buttons": buttons, "label": "launch-buttons",
    })


# --- citations ------------------------------------------------------------------------------------

# A year: not part of a number, an arXiv id ("1908.01755") or a path.
YEAR = re.compile(r"(?<![\w./-])(?:1[89]|20)\d\d[a-z]?(?!\w|[.:/-]\d)")
# Initials before a surname: "F. ", "A. G. ", "K.-R. ", "S. P. ".
INITIALS = r"(?:[A-Z][a-z]?\.(?:-[A-Z]\.)?\s*)*"
# Where a citation's sentence ends: a semicolon, a blank line, or a full stop after a word (not
# after an initial or "et al").
STOP = re.compile(r";|\n\s*\n|(?<!\bal)(?<![A-Z])(?<!\b[A-Z][a-z])\.\s+[A-Z]")
GAP_LIMIT = 220  # characters between a name and its year, at most (a title may stand between)
# Between a surname and its year in the same run of text, what a linked citation may span:
# co-authors' names and punctuation ("Kunstner, Balles and Hennig, 2019", "Raghavan & Thomson (2021)").
NAMES_GAP = re.compile(r"[\s,(]*(?:(?:et\s+al\.?|and|&|[A-Z][\w'\u2019-]+|[A-Z]\.(?:-[A-Z]\.)?)[\s,]*){0,12}\(?\s*$")
SKIP_INSIDE = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.reference,
               nodes.raw, nodes.title, nodes.FixedTextElement, nodes.target)


@dataclass
class Work:
    key: str
    years: set[str]  # the year of the entry and, for an arXiv preprint, the year of its first version
    names: list[str]  # surname of the first author, or citeforms
    ids: list[str] = field(default_factory=list)  # eprint number, DOI: accepted in place of a year
    label: str = ""  # "Kunstner, Balles & Hennig (2019), Limitations of ..." (the link's tooltip)

    def name_pattern(self) -> re.Pattern:
        alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in sorted(self.names, key=len, reverse=True))
        return re.compile(rf"(?<![\w-]){INITIALS}(?:{alternatives})(?![\w-])(?:\s+et\s+al\.?)?")


def _plain(text: str) -> str:
    """BibTeX field text without braces and LaTeX accents."""
    try:
        import latexcodec  # noqa: F401  (installed with pybtex: registers the "latex" codec)

        text = text.encode("utf-8").decode("latex")
    except Exception:
        pass
    return re.sub(r"[{}]", "", text).strip()


def load_works(bibfile: str | Path) -> list[Work]:
    """The works of ``bibfile`` with what identifies their citations in text."""
    from pybtex.database import parse_file

    works = []
    for key, entry in parse_file(str(bibfile)).entries.items():
        persons = entry.persons.get("author", [])
        surnames = [_plain(" ".join(p.last_names)) for p in persons]
        forms = [f.strip() for f in _plain(entry.fields.get("citeforms", "")).split("|") if f.strip()]
        names = forms or surnames[:1]
        ids = [entry.fields[f] for f in ("eprint", "doi") if entry.fields.get(f)]
        who = surnames[0] + (" et al." if len(surnames) > 2 else f" & {surnames[1]}" if len(surnames) == 2 else "")
        label = f"{forms[0] if forms else who} ({entry.fields.get('year', 'n.d.')}), {_plain(entry.fields.get('title', ''))}"
        years = {entry.fields.get("year", "")} - {""}
        arxiv = re.fullmatch(r"(\d\d)(\d\d)\.\d{4,5}(v\d+)?", entry.fields.get("eprint", ""))
        if arxiv:  # cited as the preprint ("Ainsworth et al. (2022)") or as published ("(2023)")
            years.add(f"20{arxiv.group(1)}")
        works.append(Work(key, years, names, ids, label))
    return works


class Citations:
    """Finds the citations of known works in the text of a page.

    A citation is a name of the work (the first author's surname, possibly with initials before it
    and "et al." after it) followed, in the same sentence and within ``GAP_LIMIT`` characters, by the
    work's year as the first year there (for an arXiv preprint, the year of its first version is
    accepted too), or by its eprint number or DOI before any other year. The
    text between may run through other nodes (an emphasised title, a link). The link covers the
    name, and runs on to the year when only co-authors' names stand between them in the same run of
    text. Names in code, math, titles and existing links are not linked.
    """

    def __init__(self, works: list[Work]):
        self.works = works
        self.patterns = [(w, w.name_pattern()) for w in works]

    def find(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int, Work]]:
        """Citations whose name lies in ``text[start:end]``: (start, end of the linked text, work)."""
        end = len(text) if end is None else end
        found = []
        for work, pattern in self.patterns:
            for m in pattern.finditer(text, start, end):
                after = text[m.end(): m.end() + GAP_LIMIT]
                stop = STOP.search(after)
                window = after[: stop.start()] if stop else after
                year = YEAR.search(window)
                hit_end = None
                if year and year.group(0).rstrip("abcdefghijklmnopqrstuvwxyz") in work.years:
                    hit_end = m.end() + year.end()
                    if m.end() + year.end() <= end and NAMES_GAP.fullmatch(window[: year.start()]):
                        close = re.match(r"\s*\)", window[year.end():])
                        link_end = hit_end + (close.end() if close and "(" in window[: year.start()] else 0)
                    else:
                        link_end = m.end()
                else:
                    limit = year.start() if year else len(window)
                    if any(i in window[:limit] for i in work.ids):
                        link_end = m.end()
                    else:
                        continue
                found.append((m.start(), link_end, work))
        # overlapping candidates: keep the earliest, then the longest
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        kept, last = [], -1
        for f in found:
            if f[0] >= last:
                kept.append(f)
                last = f[1]
        return kept


def _merge_texts(element: nodes.Element) -> None:
    """Join adjacent Text children (MyST makes one per line), so that a name broken over lines is one run."""
    for node in list(element.findall(nodes.Element)):
        k = 0
        while k < len(node.children) - 1:
            a, b = node.children[k], node.children[k + 1]
            if isinstance(a, nodes.Text) and isinstance(b, nodes.Text):
                node.children[k] = nodes.Text(a.astext() + b.astext())
                node.children[k].parent = node
                del node.children[k + 1]
            else:
                k += 1


def _texts(element: nodes.Element) -> tuple[str, list[tuple[int, nodes.Text, bool]]]:
    """The text of ``element`` and its Text nodes with their offsets and whether a link may go there."""
    parts, runs, offset = [], [], 0
    for node in element.findall(nodes.Text):
        eligible = not any(isinstance(a, SKIP_INSIDE) for a in _ancestors(node, element))
        runs.append((offset, node, eligible))
        parts.append(node.astext())
        offset += len(parts[-1])
    return "".join(parts), runs


def _ancestors(node: nodes.Node, stop: nodes.Element):
    node = node.parent
    while node is not None and node is not stop:
        yield node
        node = node.parent


def link_citations(doctree: nodes.document, citations: Citations, refuri: str) -> list[str]:
    """Turn the citations in ``doctree``'s paragraphs into links to ``refuri#cite-KEY``; the keys linked."""
    linked = []
    for para in list(doctree.findall(nodes.paragraph)):
        if any(isinstance(a, SKIP_INSIDE) for a in _ancestors(para, doctree)):
            continue
        _merge_texts(para)
        text, runs = _texts(para)
        if not YEAR.search(text) and not any(i in text for c in citations.works for i in c.ids):
            continue
        for offset, node, eligible in runs:
            if not eligible:
                continue
            value = node.astext()
            hits = citations.find(text, offset, offset + len(value))
            hits = [(s - offset, min(e, offset + len(value)) - offset, w) for s, e, w in hits]
            if not hits:
                continue
            new, pos = [], 0
            for s, e, work in hits:
                if s > pos:
                    new.append(nodes.Text(value[pos:s]))
                ref = nodes.reference(value[s:e], value[s:e], refuri=f"{refuri}#cite-{work.key}",
                                      reftitle=work.label, classes=["course-citation"], internal=True)
                new.append(ref)
                linked.append(work.key)
                pos = e
            if pos < len(value):
                new.append(nodes.Text(value[pos:]))
            node.parent.replace(node, new)
    return linked


def on_doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if docname == app.config.course_references_page or not app.config.bibtex_bibfiles:
        return
    if not hasattr(app, "_course_citations"):
        works = [w for bib in app.config.bibtex_bibfiles for w in load_works(Path(app.srcdir) / bib)]
        app._course_citations = Citations(works)
    if app.config.course_references_page not in app.env.all_docs:
        return
    refuri = app.builder.get_relative_uri(docname, app.config.course_references_page)
    link_citations(doctree, app._course_citations, refuri)


# --- MathJax --------------------------------------------------------------------------------------


def mathjax_source() -> Path:
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: `pip install -e '.[site]'` (django-static-mathjax)")
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise RuntimeError(f"{es5}: no tex-chtml.js (unexpected layout of django-static-mathjax)")
    return es5


def copy_mathjax(app: Sphinx, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    source, dest = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        src, dst = source / part, dest / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                shutil.copy2(src, dst)


def setup(app: Sphinx) -> dict:
    app.add_config_value("course_repository", None, "html", types=frozenset({str, type(None)}))
    app.add_config_value("course_jupyterhub", None, "html", types=frozenset({str, type(None)}))
    app.add_config_value("course_branch", "main", "html", types=frozenset({str}))
    app.add_config_value("course_references_page", "references", "html", types=frozenset({str}))
    app.connect("config-inited", _resolve_urls)
    app.connect("html-page-context", add_launch_links, priority=502)
    app.connect("doctree-resolved", on_doctree_resolved)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
