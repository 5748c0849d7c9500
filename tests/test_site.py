"""The course's website (`make site`) as a reader meets it: built once, then opened in headless Chromium.

The module builds the site with ``site/build.py`` (as ``make site`` does, with the repository URL
of pyproject.toml) into a temporary folder, serves it on 127.0.0.1 with Python's http.server, and
checks:

- the pages: the home page, the start page, every lecture and every released exercise (never a
  solution), in syllabus order in the sidebar, and the references page;
- in Chromium, every page loads with no console error and no page error, and no request leaves
  the machine (any request not to the local server is refused and fails the test): math, fonts,
  icons and search are served by the site; every image on it is drawn; math is typeset by MathJax
  with no TeX error; no widget placeholder ("Loading widget...", a ``VBox(...)`` repr) is shown;
- every figure (``image/png`` output) of every stored notebook is on its page (same bytes);
- search, typed into the search page, finds a term of lecture 6 on lecture 6's page;
- every internal link and anchor resolves;
- no page, search index or downloadable source contains a solution or hidden-test marker or any
  non-trivial line of a solution region or hidden test of ``solutions/``;
- the bibliography holds every paper of ``course/syllabus.toml``, every work in it is cited, and
  linked to its entry, by some lecture, and every "Author et al. (year)" of a lecture is linked;
- launch links: with no repository configured there are none; with one (a second, small build with
  ``--repository`` and ``--jupyterhub``) each notebook page has JupyterHub, Binder and Colab links
  equal to ``course.hosted.launch_links``;
- dark mode keeps figures on a white background.

Screenshots (a lecture page in light and dark mode, the home page, search results) go to
``test-artifacts/site/``; with ``COURSE_UPDATE_SCREENSHOTS=1`` the light lecture page also goes to
``docs/site_lecture.png`` (the README's picture). Without the site's packages (``make site``
installs them: ``pip install -e '.[site]'``) or without Chromium the tests skip.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "site"
BIB = ROOT / "site" / "references.bib"
SEARCH_TERM, SEARCH_PAGE = "geodesic", "lectures/06_geodesics.html"
SCREENSHOT_PAGE = "lectures/03_metrics.html"  # math, figures and citations on one screen
CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
NOTEBOOK = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
WIDGET_PLACEHOLDERS = ("Loading widget", "VBox(", "HBox(", "FloatSlider(", "IntSlider(", "interactive(")
EXAMPLE_REPOSITORY, EXAMPLE_HUB = "https://github.com/example-org/example-course", "https://hub.example.org"


def _site_packages_missing() -> str | None:
    for module in ("sphinx", "myst_nb", "sphinx_book_theme", "sphinxcontrib.bibtex", "sphinx_copybutton", "mathjax"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: `make site` installs the site's packages (pip install -e '.[site]')"
    return None


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _course_notebooks(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).glob("*.ipynb") if NOTEBOOK.match(p.name))


def _start_build(build_dir: Path, *args: str) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "site" / "build.py"), "--build-dir", str(build_dir), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, time.perf_counter()


def _finish_build(started: tuple[subprocess.Popen, float]) -> float:
    proc, start = started
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"site/build.py failed ({proc.returncode}):\n{out[-3000:]}\n{err[-6000:]}"
    return time.perf_counter() - start


_SMALL: dict = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site (BUILD/html), built once for the module as `make site` builds it.

    A second, small build with a repository and a hub configured (for the launch links) runs at
    the same time, on the other core.
    """
    missing = _site_packages_missing()
    if missing:
        pytest.skip(missing)
    build, small = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("site-with-repository")
    main = _start_build(build)
    _SMALL["dir"] = small
    _SMALL["build"] = _start_build(small, "--repository", EXAMPLE_REPOSITORY, "--jupyterhub", EXAMPLE_HUB,
                                   "--only", "01_linear_regression")
    seconds = _finish_build(main)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "build_seconds.txt").write_text(f"{seconds:.1f}\n")
    yield build / "html"
    if _SMALL.get("build") and _SMALL["build"][0].poll() is None:
        _SMALL["build"][0].kill()


@pytest.fixture(scope="module")
def site_with_repository(site) -> Path:
    """The small build with EXAMPLE_REPOSITORY and EXAMPLE_HUB configured: lecture 1 and its exercises."""
    if "built" not in _SMALL:
        _finish_build(_SMALL["build"])
        _SMALL["built"] = True
    return _SMALL["dir"] / "html"


# --- reading the built pages ----------------------------------------------------------------------


class _Page(HTMLParser):
    """The links, ids, images and text of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs, self.ids, self.imgs, self.text, self.classes = [], set(), [], [], []
        self._skip = 0
        self._stack: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href") is not None:
            self.hrefs.append((a["href"], a.get("class", "") or ""))
        if tag == "img":
            self.imgs.append((a.get("src", ""), " ".join(c for _, c in self._stack)))
        if tag in ("script", "style"):
            self._skip += 1
        if tag not in ("img", "br", "hr", "meta", "link", "input", "source", "wbr", "area", "base", "col", "embed", "track"):
            self._stack.append((tag, a.get("class", "") or ""))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if not any(t == tag for t, _ in self._stack):  # a void element (<img ... />) or a stray end tag
            return
        while self._stack:
            t, _ = self._stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    page.full_text = "".join(page.text)
    page.raw = path.read_text()
    return page


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def _page_of(site: Path, notebook: Path) -> Path:
    return site / notebook.parent.name / f"{notebook.stem}.html"


# --- the pages ------------------------------------------------------------------------------------


def test_every_lecture_and_released_exercise_has_a_page_in_syllabus_order_and_no_solution_does(site):
    from course.syllabus import load_syllabus

    expected = [*_course_notebooks("lectures"), *_course_notebooks("exercises")]
    assert expected, "no notebook found"
    for nb in expected:
        assert _page_of(site, nb).is_file(), f"{nb.relative_to(ROOT)} has no page"
    assert (site / "index.html").is_file() and (site / "references.html").is_file()
    assert not (site / "solutions").exists() and not list(site.rglob("solutions*")), "a solutions page was built"
    # the sidebar lists the start page, then the lectures, then the exercises, each in syllabus order
    order = {lec.slug: lec.number for lec in load_syllabus()}
    nav = [h for h, cls in _parse(site / "index.html").hrefs if re.match(r"^(lectures|exercises)/\d\d_\w+\.html$", h)]
    seen = list(dict.fromkeys(nav))
    assert seen[0] == "lectures/00_start_here.html", seen
    lectures = [h for h in seen if h.startswith("lectures/") and "00_start_here" not in h]
    exercises = [h for h in seen if h.startswith("exercises/")]
    key = lambda h: order.get(Path(h).stem, 999)
    assert lectures == sorted(lectures, key=key) and exercises == sorted(exercises, key=key), seen
    assert seen.index(exercises[0]) > seen.index(lectures[-1]), seen
    assert {f"{p.parent.name}/{p.stem}.html" for p in expected} == set(seen), "the sidebar misses a page"
    # the home page is the README's overview
    readme_title = re.search(r"^# (.+)$", (ROOT / "README.md").read_text(), re.M).group(1)
    assert readme_title in _parse(site / "index.html").full_text


def test_every_stored_figure_is_on_its_page(site):
    checked = 0
    for nb_path in [*_course_notebooks("lectures"), *_course_notebooks("exercises")]:
        nb = nbformat.read(nb_path, as_version=4)
        stored = Counter(
            hashlib.sha256(base64.b64decode(out["data"]["image/png"])).hexdigest()
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if "image/png" in out.get("data", {})
        )
        page_path = _page_of(site, nb_path)
        shown = Counter()
        for src, where in _parse(page_path).imgs:
            if "cell_output" in where:
                target = (page_path.parent / unquote(src)).resolve()
                assert target.is_file(), f"{page_path.name}: image {src} is missing"
                shown[hashlib.sha256(target.read_bytes()).hexdigest()] += 1
        assert shown == stored, (
            f"{nb_path.relative_to(ROOT)}: {sum(stored.values())} figures stored, {sum(shown.values())} on its page "
            f"({sum((stored - shown).values())} missing, {sum((shown - stored).values())} not from the notebook)"
        )
        checked += sum(stored.values())
    assert checked > 0
    (ARTIFACTS / "figures_checked.txt").write_text(f"{checked}\n")


def test_no_page_shows_a_widget_placeholder(site):
    for path in _pages(site):
        page = _parse(path)
        for placeholder in WIDGET_PLACEHOLDERS:
            assert placeholder not in page.full_text, f"{path.relative_to(site)} shows {placeholder!r}"
        assert "application/vnd.jupyter.widget-view+json" not in page.raw, f"{path.relative_to(site)} embeds a widget view"


def test_every_internal_link_resolves(site):
    checked = 0
    for path in _pages(site):
        for href, _ in _parse(path).hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.exists(), f"{path.relative_to(site)}: link {href!r} leads nowhere"
            if target.is_dir():
                target = target / "index.html"
            if parts.fragment and target.suffix == ".html":
                assert unquote(parts.fragment) in _parse(target).ids, (
                    f"{path.relative_to(site)}: link {href!r}: no #{parts.fragment} on {target.relative_to(site)}"
                )
            checked += 1
    assert checked > 100


def _solution_secrets() -> tuple[set[str], list[str]]:
    """Non-trivial lines of the solution regions and hidden tests of solutions/, and the markers."""
    from course import notebooks as nbk

    # what the site shows legitimately: the text of the lectures and released exercises
    shown = "\n".join(cell.source for path in [*_course_notebooks("lectures"), *_course_notebooks("exercises")]
                      for cell in nbformat.read(path, as_version=4).cells)
    secrets = set()
    for path in _course_notebooks("solutions"):
        for cell in nbformat.read(path, as_version=4).cells:
            for begin, end in ((nbk.BEGIN_SOLUTION, nbk.END_SOLUTION), (nbk.BEGIN_HIDDEN, nbk.END_HIDDEN)):
                if begin not in cell.source:
                    continue
                for region in nbk.region_texts(cell.source, begin, end):
                    for line in region.splitlines():
                        line = line.strip()
                        if len(line) >= 16 and line not in shown and not re.fullmatch(r"[#\s\W]*\w{0,12}[\W]*", line):
                            secrets.add(line)
    return secrets, list(nbk.MARKERS)


def test_no_page_shows_solution_code_or_a_hidden_test(site):
    secrets, markers = _solution_secrets()
    assert secrets, "no solution line found to look for: is solutions/ empty?"
    texts = {}
    for path in site.rglob("*"):
        rel = str(path.relative_to(site))
        if not path.is_file() or rel.startswith("_static/mathjax"):
            continue
        if path.suffix == ".html":
            texts[rel] = html.unescape(_parse(path).full_text)
        elif path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            texts[rel] = "\n".join(c.source for c in nb.cells)
        elif path.suffix in (".js", ".txt", ".md", ".json"):
            texts[rel] = path.read_text(errors="replace")
    assert any(r.endswith("searchindex.js") for r in texts)
    for rel, text in texts.items():
        for marker in markers:
            assert marker not in text, f"{rel} contains the marker {marker!r}"
        for line in secrets:
            assert line not in text, f"{rel} contains a line of a solution or hidden test: {line!r}"


# --- references -----------------------------------------------------------------------------------


def _bib_entries() -> dict[str, dict]:
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(BIB)).entries.items():
        surnames = [re.sub(r"[{}]", "", " ".join(p.last_names)) for p in entry.persons.get("author", [])]
        out[key] = {"surnames": surnames, "year": entry.fields.get("year", ""),
                    "ids": {entry.fields.get(f, "") for f in ("eprint", "doi", "url")} - {""}}
    return out


def test_the_bibliography_holds_every_paper_of_the_syllabus():
    pytest.importorskip("pybtex", reason="pybtex comes with the site's packages: pip install -e '.[site]'")
    from course.syllabus import load_syllabus

    entries = _bib_entries()
    missing = []
    for lec in load_syllabus():
        for paper in lec.papers:
            surname = re.split(r"[,(&]| and ", paper, maxsplit=1)[0].strip()
            year = re.search(r"(?<![\w./-])((?:19|20)\d\d)(?![\w.]\d)", paper)
            urls = set(re.findall(r"https?://\S+", paper))
            ok = any(
                (e["surnames"] and e["surnames"][0] == surname and (year is None or e["year"] == year.group(1)))
                or any(u.rstrip(".,;") in e["ids"] or any(i and i in u for i in e["ids"]) for u in urls)
                for e in entries.values()
            )
            if not ok:
                missing.append(f"lecture {lec.number}: {paper}")
    assert not missing, "works of course/syllabus.toml missing from site/references.bib:\n" + "\n".join(missing)


def test_every_work_of_the_bibliography_is_cited_and_linked_by_a_lecture(site):
    entries = _bib_entries()
    refs = _parse(site / "references.html")
    linked: dict[str, set[str]] = {key: set() for key in entries}
    for nb in _course_notebooks("lectures"):
        for href, cls in _parse(_page_of(site, nb)).hrefs:
            m = re.match(r"^\.\./references\.html#cite-(.+)$", href)
            if m and "course-citation" in cls:
                assert m.group(1) in linked, f"{nb.name} links to an unknown entry {href}"
                linked[m.group(1)].add(nb.stem)
    for key in entries:
        assert f"cite-{key}" in refs.ids, f"the references page has no entry for {key}"
    uncited = sorted(k for k, v in linked.items() if not v)
    assert not uncited, f"works in site/references.bib that no lecture cites (or whose citation is not linked): {uncited}"


def test_every_et_al_citation_of_a_lecture_is_linked(site):
    # A lecture that cites a new work ("Entezari et al. (2022)") needs it in site/references.bib.
    et_al = re.compile(r"\b([A-Z][\w'\u2019-]+) et al\.?,? \(?((?:19|20)\d\d)\b")
    missing = []
    for nb in _course_notebooks("lectures"):
        text = "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "markdown")
        page = _parse(_page_of(site, nb)).raw
        linked = " ".join(re.findall(r'<a class="[^"]*course-citation[^"]*"[^>]*>(.*?)</a>', page, re.S))
        for surname, year in sorted(set(et_al.findall(re.sub(r"[*_]", "", text)))):
            if surname not in linked:
                missing.append(f"{nb.name}: {surname} et al. ({year})")
    assert not missing, "citations with no entry in site/references.bib (add them there):\n" + "\n".join(missing)


# --- launch links ---------------------------------------------------------------------------------


def _launch_links(path: Path) -> dict[str, str]:
    raw = _parse(path).raw
    group = re.search(r'<div class="dropdown dropdown-launch-buttons">(.*?)</ul>', raw, re.S)
    if not group:
        return {}
    return {m.group(2): html.unescape(m.group(1))
            for m in re.finditer(r'<a href="([^"]+)"[^>]*?class="[^"]*\bbtn-launch-(\w+)\b', group.group(1), re.S)}


def _check_launch_links(site: Path, repository: str, hub: str) -> int:
    from course import hosted

    pages = 0
    for folder in ("lectures", "exercises"):
        for nb in _course_notebooks(folder):
            path = _page_of(site, nb)
            if not path.is_file():
                continue
            expected = hosted.launch_links(nb.stem, repository, folder=folder, jupyterhub=hub)
            assert _launch_links(path) == expected, f"{path.relative_to(site)}: launch links differ from course.hosted"
            pages += 1
    return pages


def test_launch_links_follow_the_configured_repository_and_none_is_drawn_without_one(site, site_with_repository):
    from course import hosted

    configured = hosted.repository_url()
    with open(ROOT / "pyproject.toml", "rb") as fh:
        hub = tomllib.load(fh).get("tool", {}).get("course", {}).get("jupyterhub", "")
    assert _check_launch_links(site, configured, hub) > 0
    if not configured:  # nothing configured: no launch link anywhere, nothing invented
        for path in _pages(site):
            raw = _parse(path).raw
            for sign in ("dropdown-launch-buttons", "mybinder.org", "colab.research.google.com", "git-pull?"):
                assert sign not in raw, f"{path.relative_to(site)} draws a launch link ({sign}) with no repository configured"

    # a repository and a hub configured (a small build: one lecture and its exercises)
    small = site_with_repository
    assert _check_launch_links(small, EXAMPLE_REPOSITORY, EXAMPLE_HUB) == 2
    links = _launch_links(small / "lectures" / "01_linear_regression.html")
    assert set(links) == {"jupyterhub", "binder", "colab"}, links
    assert links["binder"] == f"https://mybinder.org/v2/gh/example-org/example-course/main?labpath=lectures/01_linear_regression.ipynb"
    assert links["colab"] == "https://colab.research.google.com/github/example-org/example-course/blob/main/lectures/01_linear_regression.ipynb"
    assert links["jupyterhub"].startswith(f"{EXAMPLE_HUB}/hub/user-redirect/git-pull?repo=")
    assert "urlpath=lab/tree/example-course/lectures/01_linear_regression.ipynb" in links["jupyterhub"]
    assert EXAMPLE_REPOSITORY in _parse(small / "index.html").raw, "the repository button is missing"
    # with a repository but no hub: Binder and Colab only
    assert set(hosted.launch_links("01_linear_regression", EXAMPLE_REPOSITORY)) == {"binder", "colab"}


# --- in the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(site):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no log line per request
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser(site):
    if _chromium() is None:
        pytest.skip("Chromium not found: install it with `apt-get install chromium` (Debian/Ubuntu) to run the browser tests")
    pytest.importorskip("playwright", reason="playwright not installed: `pip install -e '.[test]'`")
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_FLAGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


def _context(browser, base: str, scheme: str = "light"):
    """A browser context that refuses (and records) every request not to the local server."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    ctx.outside, ctx.console, ctx.failed = [], [], []

    def route(r):
        url = r.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            ctx.outside.append(url)
            r.abort()

    ctx.route("**/*", route)
    ctx.set_default_timeout(30_000)
    return ctx


def _watch(ctx, page):
    page.on("console", lambda m: ctx.console.append(f"{m.type}: {m.text} ({m.location.get('url', '')})") if m.type == "error" else None)
    page.on("pageerror", lambda e: ctx.console.append(f"pageerror: {e}"))
    # the browser fetches a page's favicon after it loads and cancels that fetch when the next page is
    # opened (net::ERR_ABORTED, seen under load): not a broken link; a missing favicon is an HTTP 404 below
    page.on("requestfailed", lambda r: None if (r.url.endswith("favicon.svg") and "ERR_ABORTED" in (r.failure or ""))
            else ctx.failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: ctx.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None)
    return page


MATH_STATE = """async () => {
  const math = document.querySelectorAll('.math').length;
  if (!math) return {math: 0, typeset: 0, errors: 0};
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return {math, typeset: -1, errors: 0};
  await MathJax.startup.promise;
  return {math, typeset: document.querySelectorAll('mjx-container').length,
          errors: document.querySelectorAll('mjx-merror').length,
          texts: [...document.querySelectorAll('mjx-merror')].slice(0, 3).map(e => e.getAttribute('data-mjx-error'))};
}"""

IMAGES = """() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))"""


@pytest.mark.timeout(300)
def test_every_page_loads_offline_with_figures_math_and_no_error(site, server, browser):
    ctx = _context(browser, server)
    page = _watch(ctx, ctx.new_page())
    pages = _pages(site)
    typeset = 0
    try:
        for path in pages:
            rel = path.relative_to(site).as_posix()
            before = len(ctx.console), len(ctx.failed)
            page.goto(server + rel, wait_until="load")
            math = page.evaluate(MATH_STATE)
            assert math["typeset"] >= math["math"], f"{rel}: {math['math']} math elements, {math['typeset']} typeset by MathJax"
            assert not math["errors"], f"{rel}: MathJax shows {math['errors']} TeX errors, e.g. {math.get('texts')}"
            typeset += math["typeset"]
            broken = page.evaluate(IMAGES)
            assert not broken, f"{rel}: images not drawn: {broken[:5]}"
            body = page.locator("body").inner_text()
            for placeholder in WIDGET_PLACEHOLDERS:
                assert placeholder not in body, f"{rel} shows {placeholder!r}"
            page.wait_for_timeout(100)
            assert len(ctx.console) == before[0], f"{rel}: console errors: {ctx.console[before[0]:]}"
            assert len(ctx.failed) == before[1], f"{rel}: failed requests: {ctx.failed[before[1]:]}"
        assert not ctx.outside, f"requests left the machine: {sorted(set(ctx.outside))[:10]}"
        assert typeset > 100, f"only {typeset} formulas typeset on the whole site"
        (ARTIFACTS / "pages_checked.txt").write_text(f"{len(pages)} pages, {typeset} formulas typeset\n")

        page.goto(server + "index.html")
        page.screenshot(path=str(ARTIFACTS / "home.png"))
    finally:
        ctx.close()


def _screenshot_lecture(browser, server, scheme: str) -> dict:
    ctx = _context(browser, server, scheme)
    page = _watch(ctx, ctx.new_page())
    try:
        page.goto(server + SCREENSHOT_PAGE)
        page.evaluate(MATH_STATE)
        # the first figure, 140 px below the top of the window, with the text under it
        page.locator(".cell_output img").first.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 140)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"lecture_{scheme}.png"))
        state = page.evaluate("""() => { const img = document.querySelector('.cell_output img');
            return {theme: document.documentElement.dataset.theme, background: getComputedStyle(img).backgroundColor,
                    page: getComputedStyle(document.body).backgroundColor}; }""")
        assert not ctx.console and not ctx.outside, (ctx.console, ctx.outside)
        return state
    finally:
        ctx.close()


@pytest.mark.timeout(120)
def test_a_lecture_in_light_and_dark_mode_keeps_its_figures_readable(site, server, browser):
    light = _screenshot_lecture(browser, server, "light")
    dark = _screenshot_lecture(browser, server, "dark")
    assert light["theme"] == "light" and dark["theme"] == "dark", (light, dark)
    assert dark["page"] != light["page"], "dark mode does not darken the page"
    assert dark["background"] == "rgb(255, 255, 255)", f"in dark mode a figure's background is {dark['background']}, not white"
    if os.environ.get("COURSE_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(ARTIFACTS / "lecture_light.png", ROOT / "docs" / "site_lecture.png")


@pytest.mark.timeout(120)
def test_search_finds_a_term_of_lecture_6(site, server, browser):
    ctx = _context(browser, server)
    page = _watch(ctx, ctx.new_page())
    try:
        page.goto(server + "search.html")
        box = page.locator("article form.bd-search input[name=q], main form.bd-search input[name=q]").first
        box.fill(SEARCH_TERM)
        box.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#search-results ul.search li').length > 0", timeout=30_000)
        # Sphinx adds the results one page at a time: wait for the lecture's page (or the search's end, when
        # its summary gets its text) before reading them, or the first result alone may be read (seen once under load)
        try:
            page.wait_for_function(
                """(page) => [...document.querySelectorAll('#search-results ul.search li a')].some(a => a.href.includes(page))
                             || !!document.querySelector('#search-results p.search-summary')?.innerText""",
                arg=SEARCH_PAGE, timeout=30_000)
        except Exception:
            pass  # the assert below says what was found
        results = page.evaluate("() => [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href)")
        page.screenshot(path=str(ARTIFACTS / "search.png"))
        assert any(SEARCH_PAGE in r for r in results), f"searching {SEARCH_TERM!r} does not find {SEARCH_PAGE}: {results[:10]}"
        assert not ctx.console and not ctx.outside, (ctx.console, ctx.outside)
    finally:
        ctx.close()


def test_links_to_files_the_site_has_no_page_for_go_to_the_repository_or_become_text():
    # No build needed: how the page-building script rewrites the links of the README and the notebooks.
    import importlib.util

    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    pages = {"lectures/01_linear_regression.ipynb", "exercises/01_linear_regression.ipynb"}
    text = ("[the exercises](../exercises/01_linear_regression.ipynb), [the solution](../solutions/01_linear_regression.ipynb), "
            "[rules](../CONTRIBUTING.md#exercises), [a site](https://example.org), [above](#top), ![the start page](../docs/start_page.png)")
    assets = []
    plain = build.relink(text, "lectures", pages, "", assets=assets)
    assert plain == ("[the exercises](../exercises/01_linear_regression.ipynb), the solution, rules, [a site](https://example.org), "
                     "[above](#top), ![the start page](../docs/start_page.png)")
    assert assets == ["docs/start_page.png"]
    linked = build.relink(text, "lectures", pages, EXAMPLE_REPOSITORY)
    assert f"[the solution]({EXAMPLE_REPOSITORY}/blob/main/solutions/01_linear_regression.ipynb)" in linked
    assert f"[rules]({EXAMPLE_REPOSITORY}/blob/main/CONTRIBUTING.md#exercises)" in linked
    readme = "# Title\n\nSee [lecture 1](lectures/01_linear_regression.ipynb).\n<!-- site:omit-start -->\nhidden\n<!-- site:omit-end -->\n" \
             "<!-- instructors:start -->\n## For instructors\nsecret\n"
    home, _ = build.home_page(readme, pages, "")
    assert "[lecture 1](lectures/01_linear_regression.ipynb)" in home and "hidden" not in home and "instructors" not in home
