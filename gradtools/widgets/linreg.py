r"""The explorer of lecture 1: gradient descent on a 2-D quadratic, with sliders.

The drawing is :func:`gradtools.plotting.plot_gd_quadratic_2d` (a plain, tested function); the
widget only wires sliders to it.

References:
    Lecture 1 of this course; G. Goh, *Why Momentum Really Works*, Distill (2017),
    https://distill.pub/2017/momentum/ (whose interactive figures inspired this one).
"""

from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from gradtools.plotting.linreg import plot_gd_quadratic_2d

__all__ = ["gd_quadratic_explorer"]


def _inline_backend() -> bool:
    return "inline" in matplotlib.get_backend().lower()


def _interactive_output(draw, controls: dict) -> widgets.Output:
    """``ipywidgets.interactive_output``, without the escape codes it prints outside a kernel.

    In a kernel (JupyterLab, nbval, ``python -m course execute``) this is ipywidgets' own function.
    Without one (a doctest, a script, pytest) its ``clear_output`` falls back to printing
    terminal escape codes; there is no output area to clear there, so ``draw`` is simply called
    now and again on every change of a control.
    """
    from IPython import get_ipython

    if get_ipython() is not None:
        return widgets.interactive_output(draw, controls)
    out = widgets.Output()

    def update(change=None) -> None:
        draw(**{name: control.value for name, control in controls.items()})

    for control in controls.values():
        control.observe(update, "value")
    update()
    return out


def gd_quadratic_explorer(
    *,
    lr: float = 1.0,
    kappa: float = 10.0,
    num_steps: int = 40,
    angle: float = np.pi / 6,
    w0: Sequence[float] = (-2.0, 2.0),
) -> widgets.VBox:
    r"""Sliders for the learning rate and the condition number, redrawing gradient descent.

    The quadratic has eigenvalues :math:`\lambda_{\max} = 1` and :math:`1/\kappa`, so the stability
    threshold is :math:`\alpha < 2`; the slider goes a little past it to show divergence. Each
    redraw shows the path over the contours, with the eigenvectors rotated by ``angle``, and the
    per-eigendirection errors (log scale) with their predictions
    :math:`|1-\alpha a_j|^t\,|\tilde w_j(0) - \tilde w_{\star j}|` (see
    :func:`gradtools.plotting.plot_gd_quadratic_2d`).
    Sliders use ``continuous_update=False``: one redraw per release, not per pixel.

    The returned box has attributes ``lr_slider``, ``kappa_slider``, ``output`` (the plot's
    ``Output`` widget), ``last_drawn`` (a dict ``{"lr", "kappa"}`` of the values last drawn),
    ``last_figure`` (the last Figure) and ``status``, a hidden ``Text`` widget whose value is
    ``"lr=..., kappa=..."`` for the last drawing (what a browser test can read).

    Args:
        lr: initial learning rate, in ``[0.05, 2.2]``.
        kappa: initial condition number, in ``[1, 1000]``.
        num_steps: gradient-descent steps drawn.
        angle: rotation of the eigenvectors, radians.
        w0: the start.

    Returns:
        An ``ipywidgets.VBox``: the sliders above the plot.

    Example:
        >>> box = gd_quadratic_explorer(lr=0.5)
        >>> box.kappa_slider.value = 100.0  # redraws
        >>> box.last_drawn["kappa"]
        100.0

    References:
        Lecture 1 of this course.
    """
    if not 0.05 <= lr <= 2.2:
        raise ValueError(f"lr must be in [0.05, 2.2] (the slider's range), got {lr}.")
    if not 1.0 <= kappa <= 1000.0:
        raise ValueError(f"kappa must be in [1, 1000] (the slider's range), got {kappa}.")
    lr_slider = widgets.FloatSlider(
        value=lr, min=0.05, max=2.2, step=0.05, description="lr α", continuous_update=False,
        readout_format=".2f",
    )
    kappa_slider = widgets.FloatLogSlider(
        value=kappa, base=10, min=0, max=3, step=0.05, description="κ", continuous_update=False,
        readout_format=".3g",
    )
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    controls = widgets.HBox([lr_slider, kappa_slider])
    box = widgets.VBox([controls, status])

    def draw(lr: float, kappa: float) -> None:
        fig = plot_gd_quadratic_2d(lr, kappa, num_steps=num_steps, angle=angle, w0=w0)
        box.last_figure = fig
        box.last_drawn = {"lr": float(lr), "kappa": float(kappa)}
        status.value = f"lr={float(lr):.4g}, kappa={float(kappa):.4g}"
        if _inline_backend():
            plt.show()  # interactive_output shows it in its Output widget, then closes it
        else:
            plt.close(fig)  # e.g. Agg under pytest: keep the Figure object, free pyplot's copy

    output = _interactive_output(draw, {"lr": lr_slider, "kappa": kappa_slider})
    box.children = (controls, output, status)
    box.lr_slider, box.kappa_slider, box.output, box.status = lr_slider, kappa_slider, output, status
    return box
