"""Repository-wide pytest settings, for nbval over lectures/ and solutions/.

Stored notebook outputs are compared as text. Warnings on stderr (JAX, matplotlib) are not part of
that comparison: they depend on library versions, not on what the lecture computes.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# No progress bars in re-executed notebooks: stored outputs hold none (gradtools.progress).
os.environ["GRADTOOLS_PROGRESS"] = "0"


def pytest_collectstart(collector):
    if collector.__class__.__name__ == "IPyNbFile":
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)


# Notebooks under tests/data are fixtures for the grader (some loop forever or kill their kernel
# on purpose): nbval must never collect them.
collect_ignore = ["tests/data"]
