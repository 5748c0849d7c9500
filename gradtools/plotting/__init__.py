"""Plots the lectures share: each function draws on a matplotlib Axes and returns it (or a Figure).

No plotting code lives in the notebooks; these functions are tested without a browser.
"""

from gradtools.plotting import autodiff, behavior, connectivity, geodesics, linreg, metrics
from gradtools.plotting.autodiff import *  # noqa: F401,F403
from gradtools.plotting.behavior import *  # noqa: F401,F403
from gradtools.plotting.connectivity import *  # noqa: F401,F403
from gradtools.plotting.geodesics import *  # noqa: F401,F403
from gradtools.plotting.linreg import *  # noqa: F401,F403
from gradtools.plotting.metrics import *  # noqa: F401,F403

__all__ = [
    *linreg.__all__,
    *autodiff.__all__,
    *metrics.__all__,
    *behavior.__all__,
    *connectivity.__all__,
    *geodesics.__all__,
]
