# The README's commands. `make lab` starts the course, `make test` runs every test.
# Both create .venv on first use (only Python 3.11+ and make are needed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
KERNEL := gradtools-course
STAMP  := $(VENV)/.installed
SITE_STAMP := $(VENV)/.installed-site
START  ?= lectures/00_start_here.ipynb
# JupyterLab defaults shipped in jupyter/ (no news pop-up, no kernel dialog), installed in $(VENV).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/geometry-of-training.json
# Tests and notebook execution run on the CPU, whatever the machine has.
export JAX_PLATFORMS ?= cpu

.PHONY: help install lab test test-long test-nbgrader unit notebooks release check-release grade bench gpu-size site clean

help:
	@echo "make lab        start the course in JupyterLab (installs into $(VENV) on first run)"
	@echo "make test       run every test: unit tests, exercises in sync, nbval over the lectures, the solutions graded"
	@echo "make test-long  what CI adds to make test: nbval over the solutions, the other widget lectures in the browser, the other shortcut routes"
	@echo "make test-nbgrader  nbgrader's autograde of every notebook against course grade (for nbgrader users)"
	@echo "make notebooks  re-execute lectures/ and solutions/ and store their outputs"
	@echo "make release    regenerate exercises/ from solutions/"
	@echo "make bench      measure products and steps against one gradient; update README"
	@echo "make gpu-size   run lectures 2, 4, 5, 6 in their GPU configuration (5 and 6 in float32) on copies"
	@echo "make site       build the course's website into _build/html/ from the stored notebooks (no execution)"
	@echo "make clean      remove $(VENV) and caches"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else \
	  "expected Python 3.11 or newer, got %d.%d: run make with PYTHON=python3.11 (or newer)" % v[:2])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) \
	  --display-name "Python 3 (geometry of training)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

# nbgrader (a test dependency, for instructors) would add its menus and server extensions to the
# students' JupyterLab: its lab extension is disabled here, its server extensions in lab_config.json.
$(LAB_SETTINGS): jupyter/overrides.json | $(STAMP)
	@mkdir -p $(@D) && cp $< $@
	@$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1 || true

# Serves the repository root (lectures/ and exercises/) and opens $(START) with the course kernel.
lab: $(STAMP) $(LAB_SETTINGS)
	@if [ -n "$$CI" ]; then echo "CI is set: not starting JupyterLab"; exit 0; fi; \
	root=""; if [ "$$(id -u)" = 0 ]; then root="--allow-root"; fi; \
	$(VENV)/bin/jupyter lab $$root --config=jupyter/lab_config.json --ServerApp.root_dir=. \
	  --LabApp.default_url=/lab/tree/$(START)

# The tests cover the site too (tests/test_site.py), so they install its extra; make lab does not.
test: $(STAMP) $(SITE_STAMP)
	$(PY) -m course release --check
	$(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile --timeout 900 \
	  --durations=25 --nbval --nbval-current-env --nbval-cell-timeout 300 --doctest-modules tests lectures gradtools

# What make test leaves out to stay short, run by CI after it, one step after the other (side by
# side on two cores, a lecture in the browser waited on other kernels past its time limit): nbval
# compares the solutions' stored outputs (make test grades every solution to full marks instead),
# the widget lectures other than the first run in the browser with every slider moved, and the
# shortcut routes and correct answers of tests/data/course/shortcuts that make test's sample leaves
# out are graded. Together with make test: every route, every widget lecture.
test-long: $(STAMP) $(SITE_STAMP)
	$(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile --timeout 900 --nbval --nbval-current-env --nbval-cell-timeout 300 solutions
	COURSE_BROWSER=rest $(PY) -m pytest -p no:cacheprovider --timeout 1800 tests/test_browser.py -k runs_and_every_slider_redraws
	COURSE_SHORTCUTS=rest $(PY) -m pytest -p no:cacheprovider -q tests/test_exercise_shortcuts.py

# For instructors who grade with nbgrader: its own autograde of every solution and release must give
# the points course grade gives (make test: the tiny fixture and lecture 1). Not in CI (its time).
test-nbgrader: $(STAMP)
	COURSE_NBGRADER_ALL=1 $(PY) -m pytest -p no:cacheprovider --timeout 3600 tests/test_nbgrader.py

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -n 2 tests

notebooks: $(STAMP)
	$(PY) -m course execute lectures/*.ipynb solutions/*.ipynb
	$(PY) -m course release

release: $(STAMP)
	$(PY) -m course release

# Lectures 2, 4, 5 and 6 at GPU size on whatever backend JAX has (a rehearsal on a CPU-only machine):
# JAX_PLATFORMS is cleared so that a GPU, where there is one, is used. On copies: nothing is stored
# (the executed copies, to read, go to test-artifacts/gpu-size/).
# First the install cell a hosted notebook runs, in a bare venv against a wheel of this checkout.
gpu-size: $(STAMP)
	@mkdir -p test-artifacts
	COURSE_REHEARSAL=1 $(PY) -m pytest -p no:cacheprovider -q tests/test_hosted.py
	JAX_PLATFORMS= $(PY) -m course gpu-size --json test-artifacts/gpu-size.json --keep test-artifacts/gpu-size

bench: $(STAMP)
	$(PY) benchmarks/run.py --write-readme

# The course as a static website (site/build.py): the README's overview, the start page, the lectures
# and the released exercises with their stored outputs, references, search; nothing is executed and
# nothing is loaded from the internet. The site's packages are an extra, installed by make site and
# make test (whose tests build the site), not by make lab.
$(SITE_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet -e ".[site]"
	@touch $@

site: $(STAMP) $(SITE_STAMP)
	$(PY) site/build.py

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
