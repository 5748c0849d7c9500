"""The course as a student meets it: JupyterLab in a real browser (Debian's Chromium, headless).

One JupyterLab server for the whole module, started the way ``make lab`` starts it (the project's
environment, ``jupyter/lab_config.json`` and ``jupyter/overrides.json``), on 127.0.0.1 with a
token it generates, temporary Jupyter folders and a temporary copy of ``lectures/`` and
``exercises/`` (so nothing the browser saves reaches the repository). Checks:

- the URL the server prints opens the start page with the course kernel, no dialog and no news
  pop-up; its cells run, and its loop shows a progress bar;
- every lecture that uses ``gt.widgets`` (found by reading the notebooks, so new lectures are
  covered) shows a picture, not ``VBox(children=...``, in each widget cell before it runs;
- the first of them runs all cells with no error output and no page error, and each slider of
  each widget, moved with the keyboard, redraws its plot (the image changes) within 2 seconds
  (``COURSE_BROWSER=rest``: the other widget lectures, ``=all``: every one);
- an exercise notebook opens unmodified, and its first test cell fails with ``NotImplementedError``
  while the answer is missing.

Screenshots (the start page, each widget before it runs, before and after each slider move) go to
``test-artifacts/browser/``, with the server's log. Without Chromium the tests skip: install it with
``apt-get install chromium`` (``.ci/run`` does). Playwright drives the system Chromium; it downloads
no browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
START_PAGE = "lectures/00_start_here.ipynb"
KERNEL = "gradtools-course"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# A slider move must redraw within this many seconds (raise it on a machine busy with other work).
REDRAW_LIMIT_S = float(os.environ.get("COURSE_BROWSER_REDRAW_LIMIT_S", "2.0"))
CHROMIUM_FLAGS = [
    "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def _uses_widgets(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any(c.cell_type == "code" and "gt.widgets" in c.source for c in nb.cells)


WIDGET_LECTURES = [p for p in sorted((ROOT / "lectures").glob("*.ipynb")) if _uses_widgets(p)]
# Run in the browser, every slider moved: the first widget lecture (the kernel, comm and redraw path
# is the same for every explorer, and each explorer's sliders are driven headless in
# tests/test_widgets_*.py). COURSE_BROWSER=rest runs the others (make test-long), =all every one.
_BROWSER_SHARES = {"first": WIDGET_LECTURES[:1], "rest": WIDGET_LECTURES[1:], "all": WIDGET_LECTURES}
if os.environ.get("COURSE_BROWSER", "first") not in _BROWSER_SHARES:
    raise ValueError(f"COURSE_BROWSER must be one of {sorted(_BROWSER_SHARES)}, got {os.environ['COURSE_BROWSER']!r}")
RUN_IN_BROWSER = _BROWSER_SHARES[os.environ.get("COURSE_BROWSER", "first")]
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


def _chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def test_start_page_lists_every_ready_lecture_and_its_exercises():
    # No browser needed: the start page's links follow the syllabus.
    from course.syllabus import load_syllabus

    nb = nbformat.read(ROOT / START_PAGE, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)\s]+\.ipynb)\)", text)
    for link in links:
        assert (ROOT / "lectures" / link).resolve().is_file(), f"{START_PAGE} links to {link}, which does not exist"
    for lec in load_syllabus():
        if lec.status == "ready":
            for link in (f"{lec.slug}.ipynb", f"../exercises/{lec.slug}.ipynb"):
                assert link in links, f"{START_PAGE}: add a link to {link} (lecture {lec.number} is ready)"
        else:
            assert lec.title.split(":")[0] in text, f"{START_PAGE}: list lecture {lec.number}, {lec.title!r}"


def test_make_lab_uses_the_shipped_settings():
    make = (ROOT / "Makefile").read_text()
    assert "--config=jupyter/lab_config.json" in make and "overrides.d" in make and "jupyter/overrides.json" in make
    assert re.search(r"^START\s*\?=\s*" + re.escape(START_PAGE) + r"\s*$", make, re.M)
    config = json.loads((ROOT / "jupyter" / "lab_config.json").read_text())
    assert config["LabApp"]["default_url"] == f"/lab/tree/{START_PAGE}"
    assert config["KernelSpecManager"]["allowed_kernelspecs"] == [KERNEL]


# --- the server and the browser -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and its process group: SIGTERM (the server shuts its kernels down), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of lectures/ and exercises/; yields (printed URL, root, log)."""
    if _chromium() is None:
        pytest.skip("Chromium not found: install it with `apt-get install chromium` (Debian/Ubuntu) to run the browser tests")
    pytest.importorskip("playwright", reason="playwright not installed: `pip install -e '.[test]'`")
    from jupyter_client.kernelspec import KernelSpecManager

    assert KERNEL in KernelSpecManager().find_kernel_specs(), (
        f"the course kernel {KERNEL!r} is not registered in this environment: run `make install`"
    )
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "course"
    for folder in ("lectures", "exercises"):
        shutil.copytree(ROOT / folder, root / folder)
    app_settings = tmp / "app-settings"
    (app_settings / "overrides.d").mkdir(parents=True)
    shutil.copy(ROOT / "jupyter" / "overrides.json", app_settings / "overrides.d" / "geometry-of-training.json")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADTOOLS_PROGRESS", "MPLBACKEND", "JUPYTER_TOKEN")}
    env["JAX_PLATFORMS"] = "cpu"
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[var] = str(tmp / var.lower())
    # As `make lab` does (`jupyter labextension disable @jupyter/nbgrader`): students see no nbgrader menu.
    (tmp / "jupyter_config_dir" / "labconfig").mkdir(parents=True)
    (tmp / "jupyter_config_dir" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyter/nbgrader": True}}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "server.log"
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={_free_port()}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
        f"--config={ROOT / 'jupyter' / 'lab_config.json'}", f"--LabApp.app_settings_dir={app_settings}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url, deadline = None, time.monotonic() + 90
        while url is None:
            assert proc.poll() is None, f"jupyter lab exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"jupyter lab printed no URL in 90 s:\n{log_path.read_text()[-3000:]}"
            m = re.search(r"(http://127\.0\.0\.1:\d+/\S*\?token=[0-9a-f]+)", log_path.read_text())
            url = m.group(1) if m else time.sleep(0.2)
        token = url.split("token=")[1]
        base = url.split("/lab")[0]
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"jupyter lab does not answer:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.2)
        yield url, root, log_path
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def page(lab):
    """One Chromium page on the printed URL; collects page errors in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_FLAGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=args)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.errors = []
            pg.on("pageerror", lambda err: pg.errors.append(str(err)))
            pg.set_default_timeout(30_000)
            pg.goto(lab[0])
            pg.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')",
                                 timeout=60_000)
            pg.evaluate("async () => { await window.jupyterapp.restored; }")
            yield pg
        finally:
            browser.close()


# --- driving JupyterLab ---------------------------------------------------------------------

FIND = """const find = p => {
  for (const w of window.jupyterapp.shell.widgets('main')) {
    if (w.context && w.context.path === p && w.content && w.sessionContext) return w;
  }
  return null;
};"""

PANEL_STATE = """p => {
  %s
  const w = find(p);
  if (!w || !w.content.model) return null;
  const k = w.sessionContext.session ? w.sessionContext.session.kernel : null;
  return {ready: w.context.isReady, dirty: w.context.model.dirty, current: window.jupyterapp.shell.currentWidget === w,
          kernel: k ? k.name : null, status: k ? k.status : null,
          connection: k ? k.connectionStatus : null,
          dialogs: document.querySelectorAll('.jp-Dialog').length};
}""" % FIND

CELLS = """p => {
  %s
  const w = find(p);
  const cells = w.content.model.cells, out = [];
  // Only this notebook's cells carry the attribute (a notebook a failed test left open would match too).
  document.querySelectorAll('[data-test-cell]').forEach(n => n.removeAttribute('data-test-cell'));
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    w.content.widgets[i].node.setAttribute('data-test-cell', String(i));
    if (c.type !== 'code') continue;
    const outputs = c.outputs.toJSON();
    out.push({index: i, count: c.executionCount, state: c.executionState,
              source: c.sharedModel.getSource(),
              nbgrader: c.getMetadata ? (c.getMetadata('nbgrader') || null) : null,
              widget: outputs.some(o => o.data && o.data['%s']),
              errors: outputs.filter(o => o.output_type === 'error')
                             .map(o => ({ename: o.ename, evalue: o.evalue}))});
  }
  return out;
}""" % (FIND, WIDGET_VIEW)


def _open(page, path: str, timeout: float = 90, *, open_it: bool = True) -> dict:
    """Open ``path`` (unless ``open_it`` is false: it should be open) and wait for its kernel to be idle."""
    if open_it:
        page.evaluate("async p => { await window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", path)
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(PANEL_STATE, path)
        if state and state["ready"] and state["connection"] == "connected" and state["status"] == "idle":
            break
        assert time.monotonic() < deadline, f"{path}: not open with an idle kernel after {timeout} s: {state}"
        time.sleep(0.2)
    page.evaluate("p => { %s window.jupyterapp.shell.activateById(find(p).id); }" % FIND, path)
    return page.evaluate(PANEL_STATE, path)


def _run_all(page, path: str, timeout: float) -> list[dict]:
    """Run all cells; return the code cells once every one ran or one stopped with an error."""
    # Not awaited: awaiting the command's promise hangs.
    page.evaluate("p => { %s window.jupyterapp.commands.execute('notebook:run-all-cells'); }" % FIND, path)
    time.sleep(0.5)
    deadline = time.monotonic() + timeout
    while True:
        cells = page.evaluate(CELLS, path)
        status = page.evaluate(PANEL_STATE, path)["status"]
        if any(c["errors"] for c in cells) and status == "idle":
            return cells
        if status == "idle" and all(c["count"] is not None and c["state"] != "running" for c in cells):
            return cells
        assert time.monotonic() < deadline, (
            f"{path}: not done in {timeout} s; still running: {[c['index'] for c in cells if c['count'] is None]}"
        )
        time.sleep(0.3)


def _close(page, path: str) -> None:
    """Shut down the notebook's kernel and close it without a save dialog."""
    page.evaluate("""async p => {
      %s
      const w = find(p);
      await w.sessionContext.shutdown();
      w.context.model.dirty = false;
      w.dispose();
    }""" % FIND, path)


def _reveal(page, path: str, index: int) -> None:
    """Scroll cell ``index`` of ``path`` to the middle of the window. JupyterLab lays out only the
    cells in view (a windowed list), so an output further down counts as invisible to Playwright
    and cannot be scrolled to by it."""
    page.evaluate("""async ([p, i]) => {
      %s
      const w = find(p);
      if (w.content.scrollToItem) await w.content.scrollToItem(i, 'center');
      w.content.widgets[i].node.scrollIntoView({block: 'center'});
    }""" % FIND, [path, index])
    page.wait_for_timeout(300)


# JupyterLab builds a cell that starts out of view as a placeholder and fills in its input and
# outputs when the browser is idle; on a machine busy with other tests that took over 30 s in CI.
RENDER_TIMEOUT_S = float(os.environ.get("COURSE_BROWSER_RENDER_TIMEOUT_S", "150"))


def _rendered(page, path: str, index: int) -> None:
    """Wait until cell ``index`` of ``path`` is no longer a placeholder and has its output area."""
    try:
        page.wait_for_function("""([p, i]) => {
          %s
          const c = find(p).content.widgets[i];
          return !c.isPlaceholder() && c.node.querySelector('.jp-OutputArea') !== null;
        }""" % FIND, arg=[path, index], timeout=RENDER_TIMEOUT_S * 1000, polling=250)
    except Exception as err:
        raise AssertionError(
            f"{path} cell {index}: JupyterLab had not rendered it {RENDER_TIMEOUT_S:.0f} s after it was "
            f"scrolled into view (raise COURSE_BROWSER_RENDER_TIMEOUT_S on a busy machine): {err}"
        ) from None


def _images(output) -> list[str]:
    return output.locator("img").evaluate_all("imgs => imgs.map(i => i.src)")


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_start_page_opens_with_the_course_kernel_and_no_dialog(lab, page):
    state = _open(page, START_PAGE, open_it=False)  # the printed URL opens it
    time.sleep(1.0)  # a pop-up would be up by now
    page.screenshot(path=str(ARTIFACTS / "start_page.png"))
    assert state["kernel"] == KERNEL, f"the start page runs kernel {state['kernel']!r}, expected {KERNEL!r}"
    assert page.locator(".jp-Dialog").count() == 0, f"a dialog is open: {page.locator('.jp-Dialog').first.inner_text()}"
    assert "Jupyter news" not in page.locator("body").inner_text(), "the Jupyter news pop-up is shown"
    assert page.locator(".jp-NotebookPanel-toolbar .jp-KernelName").first.inner_text().strip() == "Python 3 (geometry of training)"
    assert not page.evaluate(PANEL_STATE, START_PAGE)["dirty"], "the start page opened marked modified"
    chrome = page.locator(".lm-MenuBar").first.inner_text() + page.locator(".jp-NotebookPanel-toolbar").first.inner_text()
    assert "Nbgrader" not in chrome and "Validate" not in chrome, f"nbgrader's menu or Validate button is shown: {chrome!r}"
    assert page.get_by_text("Create Assignment").count() == 0, "nbgrader's Create Assignment panel is shown"
    if os.environ.get("COURSE_UPDATE_SCREENSHOTS") == "1":  # the README's picture, retaken as a student sees the page
        shutil.copy(ARTIFACTS / "start_page.png", ROOT / "docs" / "start_page.png")

    cells = _run_all(page, START_PAGE, timeout=120)
    errors = [(c["index"], c["errors"]) for c in cells if c["errors"]]
    assert not errors, f"{START_PAGE}: cells failed: {errors}"
    loop = next(c for c in cells if "gt.progress" in c["source"])
    bar = page.locator(f'[data-test-cell="{loop["index"]}"] .jp-OutputArea-output .widget-hprogress .progress-bar')
    bar.first.wait_for(timeout=10_000)
    cell_text = page.locator(f'[data-test-cell="{loop["index"]}"] .jp-OutputArea').inner_text().replace("\u2007", " ")  # tqdm pads with figure spaces
    assert "a long loop" in cell_text and "40/40" in cell_text, f"the progress bar reads {cell_text!r}"
    page.locator(f'[data-test-cell="{loop["index"]}"]').screenshot(path=str(ARTIFACTS / "start_page_progress.png"))
    assert not page.errors, f"page errors: {page.errors}"
    _close(page, START_PAGE)


def _stored_pictures(page, rel: str, stem: str) -> list[int]:
    """Before running: each widget cell shows the stored picture of its plot, not the widget's repr.
    Returns the widget cells' indices."""
    cells = page.evaluate(CELLS, rel)
    widget_cells = [c["index"] for c in cells if c["widget"]]  # the explorers, as stored
    for i in widget_cells:
        _reveal(page, rel, i)
        _rendered(page, rel, i)
        _reveal(page, rel, i)  # its height is known now: centre it again for the screenshot
        output = page.locator(f'[data-test-cell="{i}"] .jp-OutputArea')
        output.scroll_into_view_if_needed()
        output.screenshot(path=str(ARTIFACTS / f"{stem}_cell{i}_stored.png"))
        text = output.inner_text()
        assert "VBox(" not in text and "HBox(" not in text, (
            f"{rel} cell {i} shows the widget's repr before it runs: re-execute it with "
            f"`python -m course execute {rel}` (which stores the widget's picture)"
        )
        assert output.locator("img").count() >= 1, f"{rel} cell {i} shows no picture before it runs"
    return widget_cells


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", WIDGET_LECTURES, ids=lambda p: p.name)
def test_widget_lecture_shows_its_explorers_pictures_before_it_runs(lab, page, path):
    rel = f"lectures/{path.name}"
    _open(page, rel)
    assert _stored_pictures(page, rel, path.stem), f"{rel}: no explorer found"
    assert not page.errors, f"{rel}: page errors: {page.errors}"
    _close(page, rel)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", RUN_IN_BROWSER, ids=lambda p: p.name)
def test_widget_lecture_runs_and_every_slider_redraws(lab, page, path):
    rel = f"lectures/{path.name}"
    _open(page, rel)
    stem = path.stem
    widget_cells = _stored_pictures(page, rel, stem)

    cells = _run_all(page, rel, timeout=480)
    errors = [(c["index"], c["errors"]) for c in cells if c["errors"]]
    assert not errors, f"{rel}: cells failed: {errors}"
    assert not page.errors, f"{rel}: page errors: {page.errors}"

    moved = 0
    for i in widget_cells:
        page.evaluate(CELLS, rel)  # (re)mark this notebook's cells
        _reveal(page, rel, i)
        output = page.locator(f'[data-test-cell="{i}"] .jp-OutputArea-output').filter(has=page.locator(".widget-slider"))
        assert output.count() == 1, f"{rel} cell {i}: expected one live widget with sliders, found {output.count()}"
        handles = output.locator(".widget-slider .noUi-handle")
        for j in range(handles.count()):
            handle = handles.nth(j)
            handle.scroll_into_view_if_needed()
            output.locator("img").first.wait_for()
            before = _images(output)
            output.screenshot(path=str(ARTIFACTS / f"{stem}_cell{i}_slider{j}_before.png"))
            at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            handle.focus()
            page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
            start = time.monotonic()
            while True:
                after = _images(output)
                elapsed = time.monotonic() - start
                if after and after != before:
                    break
                assert elapsed < 30, f"{rel} cell {i} slider {j}: the plot was not redrawn (after 30 s)"
                time.sleep(0.05)
            output.screenshot(path=str(ARTIFACTS / f"{stem}_cell{i}_slider{j}_after.png"))
            with open(ARTIFACTS / "redraw_seconds.txt", "a") as f:
                f.write(f"{rel} cell {i} slider {j}: {elapsed:.2f}\n")
            assert elapsed <= REDRAW_LIMIT_S, f"{rel} cell {i} slider {j}: redrawn after {elapsed:.1f} s (limit {REDRAW_LIMIT_S} s)"
            moved += 1
    assert moved or not widget_cells, f"{rel}: no slider found in its widgets"
    cells = page.evaluate(CELLS, rel)
    assert not [c for c in cells if c["errors"]], f"{rel}: moving a slider raised an error"
    assert not page.errors, f"{rel}: page errors: {page.errors}"
    _close(page, rel)


@pytest.mark.timeout(240)
@pytest.mark.skipif(not EXERCISES, reason="no exercise notebook")
def test_exercise_opens_unmodified_and_its_first_test_fails_clearly(lab, page):
    rel = f"exercises/{EXERCISES[0].name}"
    _open(page, rel)
    time.sleep(1.0)  # the kernel's info reply has arrived: JupyterLab would have updated the metadata
    state = page.evaluate(PANEL_STATE, rel)
    assert not state["dirty"], f"{rel} opens marked modified (its metadata differs from what the kernel reports)"
    assert state["kernel"] == KERNEL and state["dialogs"] == 0

    cells = _run_all(page, rel, timeout=180)
    failed = [c for c in cells if c["errors"]]
    first_test = next(c for c in cells if (c["nbgrader"] or {}).get("grade") and not (c["nbgrader"] or {}).get("solution"))
    assert failed, f"{rel}: every cell passed although no answer is written"
    assert failed[0]["index"] == first_test["index"], (
        f"{rel}: the first error is in cell {failed[0]['index']}, expected the first test cell ({first_test['index']}): "
        f"{failed[0]['errors']}"
    )
    assert failed[0]["errors"][0]["ename"] == "NotImplementedError", failed[0]["errors"]
    _reveal(page, rel, first_test["index"])
    page.locator(f'[data-test-cell="{first_test["index"]}"]').screenshot(path=str(ARTIFACTS / "exercise_first_test.png"))
    assert not page.errors, f"{rel}: page errors: {page.errors}"
    _close(page, rel)
