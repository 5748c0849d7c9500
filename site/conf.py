"""Sphinx configuration of the course's website: `make site` (site/build.py) builds it into _build/html/.

The pages are copies of the stored notebooks (lectures/ and the released exercises/, never
solutions/) that site/build.py lays out with a home page from the README and a references page;
nothing is executed. Everything the pages load is served by the site itself (no CDN): the theme's
fonts and icons ship with pydata-sphinx-theme, MathJax is copied from an installed package
(site/_ext/course_site.py).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # course.hosted: the launch links

project = "The geometry of neural-net training"
author = "the course authors"
copyright = "the course authors (MIT License)"

extensions = [
    "myst_nb",
    "sphinx.ext.mathjax",
    "sphinxcontrib.bibtex",
    "sphinx_copybutton",
    "course_site",
]

# --- notebooks: stored outputs only ---------------------------------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
# An explorer's output holds the widget view and the picture `course execute` stored next to it:
# show the picture (no kernel here to draw the widget) and never load the widget manager from a CDN.
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "application/vnd.jupyter.widget-state+json", None),
]
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "smartquotes"]
myst_dmath_double_inline = True
myst_heading_anchors = 3

# --- math: MathJax 3 served from _static/mathjax (copied by course_site) ---------------------------
mathjax_path = "mathjax/tex-chtml.js"
# MyST-Parser sets which elements MathJax typesets (its math nodes only, not text with a `$` in it).
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}

# --- references -----------------------------------------------------------------------------------
bibtex_bibfiles = ["references.bib"]  # copied next to the pages by site/build.py
bibtex_default_style = "alpha"
bibtex_cite_id = "cite-{key}"  # stable anchors: references.html#cite-KEY (the citation links use them)

# --- pages and theme ------------------------------------------------------------------------------
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "The geometry of neural-net training"
html_static_path = [str(HERE / "_static")]
html_css_files = ["course.css"]
html_favicon = str(HERE / "_static" / "favicon.svg")
html_context = {"default_mode": "auto"}  # light or dark as the reader's system prefers; the header button switches
html_copy_source = True  # the notebooks are offered for download (the released exercises, not solutions)
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": True,
    "navigation_with_keys": False,
    "show_navbar_depth": 1,
}


# Fail on the warnings that matter (a broken cross-reference or link, an unknown citation key, a
# notebook that cannot be read: site/build.py runs with -W); silence only known harmless ones.
suppress_warnings = [
    "myst.header",  # a notebook's headings skip a level (### after #): harmless on a page
    "mystnb.unknown_mime_type",  # an output type with no HTML rendering: the next one is shown
]

# Set by site/build.py --repository / --jupyterhub (-D course_repository=...); None: pyproject.toml.
course_repository = None
course_jupyterhub = None
course_branch = "main"
