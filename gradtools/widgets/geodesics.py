r"""The explorer of lecture 6: on the two-parameter model, pick a start direction and see the
geodesic against the straight line, in weight space and in output space.

The computing and drawing are plain, tested functions (:func:`sinusoid_paths`,
:func:`plot_sinusoid_explorer`); the builder only wires sliders to them
(``continuous_update=False``).

References:
    Lecture 6 of this course; G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793.
"""

from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.figure import Figure

from gradtools.geodesics import sinusoid_geodesic
from gradtools.plotting.geodesics import plot_sinusoid_paths

__all__ = ["sinusoid_paths", "plot_sinusoid_explorer", "geodesic_explorer"]


def _inline_backend() -> bool:
    return "inline" in matplotlib.get_backend().lower()


def sinusoid_paths(w0: ArrayLike, angle: float, speed: float, *, num_points: int = 41) -> dict[str, np.ndarray]:
    r"""The geodesic and the straight line from ``w0`` with start velocity at ``angle``.

    The start velocity is :math:`v_0 = (\dot r, \dot\varphi) = s(\sin\alpha, \cos\alpha)`, with
    :math:`\alpha` = ``angle`` (radians) and :math:`s` = ``speed``: in the weight-space panel, which
    draws :math:`\varphi` across and :math:`r` up, :math:`\alpha` is the angle of the velocity from the
    horizontal axis, counter-clockwise (0 along :math:`+\varphi`, 90° towards larger :math:`r`).
    ``"geodesic"`` solves the geodesic equation from :math:`(w_0, v_0)` for :math:`t \in [0, 1]`
    (:func:`gradtools.geodesics.sinusoid_geodesic`, exact); ``"straight line"`` is
    :math:`w_0 + t v_0`. Both start with the same velocity: they agree to first order in
    :math:`t` and part at second order, by :math:`-\tfrac12\Gamma(w_0)[v_0, v_0]\,t^2`.

    Args:
        w0: start ``(r, phi)`` with ``r > 0``.
        angle: direction of :math:`v_0` in radians.
        speed: :math:`\|v_0\|` (Euclidean, in weight coordinates), ``>= 0``.
        num_points: points per path.

    Returns:
        ``{"geodesic": (num_points, 2), "straight line": (num_points, 2)}`` NumPy arrays.

    Example:
        >>> out = sinusoid_paths([1.0, 0.0], 0.0, 1.0)
        >>> out["geodesic"].shape, round(float(out["geodesic"][-1, 0]), 3)   # along +phi: r grows to sqrt(2)
        ((41, 2), 1.414)
    """
    w0 = jnp.asarray(w0, dtype=jnp.result_type(float))
    if w0.shape != (2,) or not float(w0[0]) > 0:
        raise ValueError(f"w0 must be (r, phi) with r > 0, shape (2,), got {np.asarray(w0)}.")
    if not float(speed) >= 0:
        raise ValueError(f"speed must be >= 0, got {speed}.")
    if int(num_points) != num_points or num_points < 2:
        raise ValueError(f"num_points must be an int >= 2, got {num_points}.")
    v0 = float(speed) * jnp.array([np.sin(angle), np.cos(angle)], dtype=w0.dtype)  # (dr, dphi)
    t = jnp.linspace(0.0, 1.0, int(num_points), dtype=w0.dtype)
    return {
        "geodesic": np.asarray(sinusoid_geodesic(w0, v0, t)),
        "straight line": np.asarray(w0[None] + t[:, None] * v0[None]),
    }


def plot_sinusoid_explorer(w0: ArrayLike, angle: float, speed: float) -> tuple[Figure, dict[str, np.ndarray]]:
    """Draw :func:`sinusoid_paths` with :func:`gradtools.plotting.plot_sinusoid_paths`.

    Returns:
        ``(figure, paths)``.

    Example:
        >>> fig, paths = plot_sinusoid_explorer([1.0, 0.0], 0.8, 1.0)
        >>> sorted(paths)
        ['geodesic', 'straight line']
    """
    paths = sinusoid_paths(w0, angle, speed)
    fig = plot_sinusoid_paths(paths)
    fig.suptitle(f"start direction {np.degrees(angle):.0f}° (from the phase axis), speed {float(speed):.3g}",
                 fontsize=10)
    fig.subplots_adjust(top=0.82)  # room for the title above the panels' titles
    return fig, paths


def geodesic_explorer(
    *, w0: Sequence[float] = (1.0, 0.0), angle_deg: float = 60.0, speed: float = 1.0
) -> widgets.VBox:
    r"""Sliders for the start direction (degrees) and speed of a path on the two-parameter model,
    redrawing the geodesic and the straight line in weight and output space.

    In output space the geodesic is a straight segment (RMS distance is Euclidean there) and the
    weight-space line bends around the origin; in weight space it is the other way round. The
    direction is measured in the weight-space panel, from its horizontal (phase) axis. Aim it
    towards small amplitude (about -90°, straight down) to see the geodesic swing its phase fast as
    it passes close to :math:`r = 0`. Colours are those of the lecture's figures
    (:data:`gradtools.plotting.geodesics.COLORS`).

    The returned box has attributes ``angle_slider``, ``speed_slider``, ``output``,
    ``last_drawn`` (``{"angle_deg", "speed"}``), ``last_paths``, ``last_figure`` and ``status``
    (a hidden ``Text``, ``"angle=..., speed=..."``, for browser tests).

    Args:
        w0: start ``(r, phi)``.
        angle_deg: initial direction in degrees, in ``[-180, 180]``.
        speed: initial speed, in ``[0.1, 2]``.

    Returns:
        An ``ipywidgets.VBox``.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter, redraws print escapes
        ...     box = geodesic_explorer()
        ...     box.angle_slider.value = 120.0  # redraws
        >>> box.last_drawn["angle_deg"]
        120.0
    """
    if not -180.0 <= angle_deg <= 180.0:
        raise ValueError(f"angle_deg must be in [-180, 180] (the slider's range), got {angle_deg}.")
    if not 0.1 <= speed <= 2.0:
        raise ValueError(f"speed must be in [0.1, 2] (the slider's range), got {speed}.")
    angle_slider = widgets.FloatSlider(
        value=angle_deg, min=-180.0, max=180.0, step=5.0, description="direction °", continuous_update=False,
        readout_format=".0f",
    )
    speed_slider = widgets.FloatSlider(
        value=speed, min=0.1, max=2.0, step=0.05, description="speed", continuous_update=False, readout_format=".2f"
    )
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    controls = widgets.HBox([angle_slider, speed_slider])
    box = widgets.VBox([controls, status])

    def draw(angle_deg: float, speed: float) -> None:
        fig, paths = plot_sinusoid_explorer(w0, np.radians(angle_deg), speed)
        box.last_figure, box.last_paths = fig, paths
        box.last_drawn = {"angle_deg": float(angle_deg), "speed": float(speed)}
        status.value = f"angle={float(angle_deg):.4g}, speed={float(speed):.4g}"
        if _inline_backend():
            plt.show()
        else:
            plt.close(fig)

    output = widgets.interactive_output(draw, {"angle_deg": angle_slider, "speed": speed_slider})
    box.children = (controls, output, status)
    box.angle_slider, box.speed_slider, box.output, box.status = angle_slider, speed_slider, output, status
    return box
