"""Explorers: ipywidgets sliders that redraw the lectures' plots.

Each explorer is built by a function that returns the widget; its drawing logic is a plain
function (tested under pytest with matplotlib's Agg backend), and sliders use
``continuous_update=False`` so a drag does not queue one JAX computation per pixel.
"""

from gradtools.widgets import behavior, connectivity, geodesics, linreg, metrics
from gradtools.widgets.behavior import *  # noqa: F401,F403
from gradtools.widgets.connectivity import *  # noqa: F401,F403
from gradtools.widgets.geodesics import *  # noqa: F401,F403
from gradtools.widgets.linreg import *  # noqa: F401,F403
from gradtools.widgets.metrics import *  # noqa: F401,F403

__all__ = [
    *linreg.__all__,
    *metrics.__all__,
    *behavior.__all__,
    *connectivity.__all__,
    *geodesics.__all__,
]
