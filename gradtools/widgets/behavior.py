r"""Explorer of lecture 4: the contour planes of two inputs of a 3-parameter model.

The model is the post's picture: :math:`f(\theta; x) = \theta\cdot x` with :math:`\theta \in
\mathbb R^3` and two training inputs :math:`x_i = (\cos a_i, \sin a_i, 0)`. Sliders turn the two
inputs (the angles :math:`a_1, a_2`); the contour planes of each input turn with it. When the
inputs are parallel (:math:`a_1 \equiv a_2 \bmod 180°`) the behavioral gradients are dependent,
the rank drops from 2 to 1 and the behavior manifolds grow from lines to planes.

The drawing is a plain, tested function (:func:`plot_two_input_contours`); the builder only wires
sliders to it. Sliders use ``continuous_update=False``.

References:
    Lecture 4 of this course; V. Hebbar, "Information Loss --> Basin flatness" (2022), section
    "Parallel contours allow higher manifold dimension".
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from gradtools.plotting.behavior import plot_contour_planes

__all__ = ["two_inputs", "plot_two_input_contours", "contour_plane_explorer"]


def _inline_backend() -> bool:
    return "inline" in matplotlib.get_backend().lower()


def two_inputs(angle1: float, angle2: float) -> np.ndarray:
    r"""The two training inputs :math:`x_i = (\cos a_i, \sin a_i, 0)`, angles in degrees, shape ``(2, 3)``.

    They are also the behavioral gradients of :math:`\theta\cdot x`. Angles are rounded to
    :math:`10^{-9}` degree after reduction, so 0° and 180° give exactly parallel inputs.

    Example:
        >>> two_inputs(0.0, 90.0).round(12).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    out = []
    for a in (angle1, angle2):
        a = float(a) % 360.0
        exact = {0.0: (1.0, 0.0), 90.0: (0.0, 1.0), 180.0: (-1.0, 0.0), 270.0: (0.0, -1.0)}
        c, s = exact.get(round(a, 9), (np.cos(np.radians(a)), np.sin(np.radians(a))))
        out.append([c, s, 0.0])
    return np.array(out)


def plot_two_input_contours(angle1: float, angle2: float, ax: Axes | None = None) -> Axes:
    r"""Draw the contour planes of :func:`two_inputs` with :func:`gradtools.plotting.plot_contour_planes`.

    Returns:
        The Axes, with ``behavior_rank`` (2, or 1 when the inputs are parallel) and
        ``manifold_dim`` (:math:`3 - \text{rank}`).

    Example:
        >>> plot_two_input_contours(30.0, 210.0).manifold_dim
        2
    """
    return plot_contour_planes(two_inputs(angle1, angle2), ax,
                               title=f"a₁ = {float(angle1):.0f}°, a₂ = {float(angle2):.0f}°")


def contour_plane_explorer(*, angle1: float = 0.0, angle2: float = 90.0) -> widgets.VBox:
    r"""Two sliders (the angles of the inputs, degrees, steps of 5°) redrawing :func:`plot_two_input_contours`.

    The returned box has attributes ``angle1_slider``, ``angle2_slider``, ``output``,
    ``last_drawn`` (``{"angle1", "angle2", "rank", "dim"}``), ``last_figure`` and ``status`` (a
    hidden ``Text`` reading ``"angle1=..., angle2=..."``, for browser tests).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # outside a kernel, redraws print escapes
        ...     box = contour_plane_explorer()
        ...     box.angle2_slider.value = 180.0  # redraws: parallel contours
        >>> box.last_drawn["dim"]
        2

    References:
        Lecture 4 of this course.
    """
    for name, a in (("angle1", angle1), ("angle2", angle2)):
        if not 0.0 <= a <= 360.0:
            raise ValueError(f"{name} must be in [0, 360] degrees (the slider's range), got {a}.")
    s1 = widgets.FloatSlider(value=angle1, min=0.0, max=360.0, step=5.0, description="a₁ (°)",
                             continuous_update=False, readout_format=".0f")
    s2 = widgets.FloatSlider(value=angle2, min=0.0, max=360.0, step=5.0, description="a₂ (°)",
                             continuous_update=False, readout_format=".0f")
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    controls = widgets.HBox([s1, s2])
    box = widgets.VBox([controls, status])

    def draw(angle1: float, angle2: float) -> None:
        ax = plot_two_input_contours(angle1, angle2)
        fig = ax.figure
        box.last_figure = fig
        box.last_drawn = {"angle1": float(angle1), "angle2": float(angle2), "rank": ax.behavior_rank,
                          "dim": ax.manifold_dim}
        status.value = f"angle1={float(angle1):.4g}, angle2={float(angle2):.4g}"
        if _inline_backend():
            plt.show()
        else:
            plt.close(fig)

    output = widgets.interactive_output(draw, {"angle1": s1, "angle2": s2})
    box.children = (controls, output, status)
    box.angle1_slider, box.angle2_slider, box.output, box.status = s1, s2, output, status
    return box
