"""Repository-wide pytest settings, for nbval over lectures/ and solutions/.

Stored notebook outputs are compared as text. Warnings on stderr (JAX, matplotlib) are not part of
that comparison: they depend on library versions, not on what the lecture computes.
"""

import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# No progress bars in re-executed notebooks: stored outputs hold none (gradtools.progress).
os.environ["GRADTOOLS_PROGRESS"] = "0"


def pytest_collectstart(collector):
    if collector.__class__.__name__ == "IPyNbFile":
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)


# Notebooks under tests/data are fixtures for the grader (some loop forever or kill their kernel
# on purpose): nbval must never collect them.
collect_ignore = ["tests/data"]


@pytest.fixture(autouse=True)
def _doctests_run_as_a_student_would(request):
    """Docstring examples run in JAX's default precision (float32), as a student's session does.

    tests/conftest.py turns x64 on for the unit tests' dense references, and the flag is global to
    the process: without this, a doctest's printed dtype would depend on which tests ran first.
    """
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    import jax

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)
