"""gradtools: the small JAX library behind the geometry-of-training course.

Curvature products (Hessian, Gauss-Newton, pullback metric, Fisher), one-step optimizers
(gradient, proximal, mirror, natural gradient, damped Newton), Hessian spectra, toy problems, and
the plots and widgets the lectures share. Parameters are pytrees; everything is jit-compatible and
device-agnostic.

The public API is ``__all__``: the core functions at top level, plus the submodules ``problems``,
``quadratic``, ``response``, ``divergences``, ``behavior`` (lecture 4), ``paths`` and
``connectivity`` (lecture 5), ``geodesics`` (lecture 6), ``plotting`` and ``widgets``.
"""

from gradtools import (
    behavior,
    config,
    connectivity,
    display,
    divergences,
    fisher,
    geodesics,
    paths,
    plotting,
    problems,
    products,
    quadratic,
    response,
    spectrum,
    steps,
    widgets,
)
from gradtools.config import *  # noqa: F401,F403
from gradtools.display import *  # noqa: F401,F403
from gradtools.fisher import *  # noqa: F401,F403
from gradtools.products import *  # noqa: F401,F403
from gradtools.spectrum import *  # noqa: F401,F403
from gradtools.steps import *  # noqa: F401,F403

__version__ = "0.1.0"

__all__ = [
    *products.__all__,
    *fisher.__all__,
    *steps.__all__,
    *spectrum.__all__,
    *display.__all__,
    *config.__all__,
    "problems",
    "quadratic",
    "response",
    "divergences",
    "plotting",
    "widgets",
    "behavior",
    "paths",
    "connectivity",
    "geodesics",
]
