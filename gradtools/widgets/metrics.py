r"""The explorers of lecture 3: proximal and natural-gradient steps on Rosenbrock against the
damping :math:`\lambda`, and the Fisher metric of a Gaussian as its parameters move.

The computing and drawing are plain, tested functions (:func:`rosenbrock_steps`,
:func:`plot_rosenbrock_steps`, :func:`gradtools.plotting.plot_gaussian_fisher`); the builders only
wire sliders to them. Sliders use ``continuous_update=False``.

References:
    Lecture 3 of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 3 (2022).
"""

from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes

from gradtools import divergences, problems, products, steps
from gradtools.config import dtype_eps
from gradtools.plotting.metrics import plot_gaussian_fisher, plot_rosenbrock_contours, plot_steps
from gradtools.widgets.linreg import _interactive_output

__all__ = [
    "rosenbrock_steps",
    "plot_rosenbrock_steps",
    "rosenbrock_step_explorer",
    "gaussian_fisher_explorer",
]

STEP_NAMES = (
    "GD, lr 1/λ",
    "prox, Euclidean ρ",
    "prox, pullback ρ",
    "natural gradient, G = JᵀJ",
    "damped Gauss-Newton (2JᵀJ + λI)",
)
# One colour per method, as in lecture 3's other figures (GD blue, natural gradient red; green is the
# empirical Fisher's there, so the pullback prox is pink).
STEP_COLORS = dict(zip(STEP_NAMES, ("C0", "C1", "C6", "C3", "C4")))
# The pullback prox is drawn as a wide translucent arrow ending in a ring, under the natural-gradient
# step, which for large lambda lies on it: both stay visible.
_RINGED = ("prox, pullback ρ",)


def _inline_backend() -> bool:
    return "inline" in matplotlib.get_backend().lower()


@jax.jit
def _steps(x0: jax.Array, lam: jax.Array) -> tuple[jax.Array, ...]:
    J = problems.rosenbrock
    f = problems.rosenbrock_f
    rho_pull = divergences.pullback(divergences.squared_euclidean, f)
    gd = steps.gd_step(J, x0, 1.0 / lam)
    prox_euc, info_euc = steps.proximal_step(J, divergences.squared_euclidean, x0, lam, inner_steps=500)
    prox_pull, info_pull = steps.proximal_step(J, rho_pull, x0, lam, inner_steps=500)
    G = products.pullback_operator(f, divergences.squared_euclidean, x0)
    tol = 1000 * dtype_eps(x0.dtype)  # reachable in the dtype: 2e-13 in float64, 1e-4 in float32
    ng, info_ng = steps.natural_gradient_step(J, G, x0, 1.0 / lam, maxiter=10, tol=tol)
    H_gn = products.gauss_newton_operator(f, problems.rosenbrock_L, x0)
    dn, info_dn = steps.damped_newton_step(J, x0, lam, curvature_mvp=H_gn, maxiter=10, tol=tol)
    # every inner solve: L-BFGS for the two proxes, CG for the natural-gradient and damped steps
    return (gd, prox_euc, prox_pull, ng, dn), (info_euc.converged, info_pull.converged, info_ng.converged,
                                               info_dn.converged)


def rosenbrock_steps(x0: ArrayLike, lam: float) -> dict[str, np.ndarray]:
    r"""One step of each update of lecture 3 from ``x0`` on Rosenbrock, with proximity weight ``lam``.

    With :math:`\mathcal J = \mathcal L \circ f` the Rosenbrock cost and :math:`\lambda` = ``lam``:

    - ``"GD, lr 1/λ"``: :math:`x - \lambda^{-1}\nabla\mathcal J(x)` (the mirror step of the
      Euclidean :math:`\rho`);
    - ``"prox, Euclidean ρ"``: :math:`\arg\min_u \mathcal J(u) + \tfrac\lambda2\|u - x\|^2`;
    - ``"prox, pullback ρ"``: :math:`\arg\min_u \mathcal J(u) + \tfrac\lambda2\|f(u) - f(x)\|^2`;
    - ``"natural gradient, G = JᵀJ"``: :math:`x - \lambda^{-1}(J^\top J)^{-1}\nabla\mathcal J(x)`,
      the infinitesimal approximation of the pullback prox;
    - ``"damped Gauss-Newton (2JᵀJ + λI)"``: :math:`x - (H_{GN} + \lambda I)^{-1}\nabla\mathcal J(x)`
      with :math:`H_{GN} = J^\top \nabla^2\mathcal L\, J = 2J^\top J` (Levenberg-Marquardt: the
      second-order model of both terms, with the Gauss-Newton curvature because the exact Hessian
      is indefinite on the valley's walls).

    Computed in one jitted function (compiled once per dtype). The two proximal steps are solved
    by L-BFGS, the natural-gradient and damped Gauss-Newton steps by CG; if any of these inner
    solves does not converge this raises ``RuntimeError`` rather than return a wrong end point.

    Args:
        x0: the point, shape ``(2,)``.
        lam: :math:`\lambda > 0`.

    Returns:
        Name -> end point (NumPy arrays of shape ``(2,)``), in the order above.

    Example:
        >>> out = rosenbrock_steps([-0.5, 1.0], 10.0)
        >>> sorted(out) == sorted(STEP_NAMES)
        True

    References:
        Lecture 3 of this course; N. Parikh and S. Boyd, *Proximal Algorithms* (2014).
    """
    x0 = jnp.asarray(x0, dtype=jnp.result_type(float))
    if x0.shape != (2,):
        raise ValueError(f"x0 must be a point of shape (2,), got shape {x0.shape}.")
    if not float(lam) > 0:
        raise ValueError(f"lam must be positive (it weighs the proximity term), got {lam}.")
    out, converged = _steps(x0, jnp.asarray(lam, dtype=x0.dtype))
    if not all(bool(c) for c in converged):
        raise RuntimeError(
            f"an inner solve did not converge at x0 = {np.asarray(x0).tolist()}, lam = {lam} (L-BFGS for the proxes: "
            f"{bool(converged[0])}, {bool(converged[1])}; CG for the natural-gradient and damped steps: "
            f"{bool(converged[2])}, {bool(converged[3])}); the end points would be wrong: use a larger lam or a "
            "start nearer the valley."
        )
    return {name: np.asarray(p) for name, p in zip(STEP_NAMES, out)}


def _clip_to_window(x0: np.ndarray, ends: dict, xlim, ylim) -> dict:
    """End points outside the window moved to where their segment from ``x0`` leaves it, and so named
    (``name (leaves the window)``)."""
    lo, hi = np.array([xlim[0], ylim[0]]), np.array([xlim[1], ylim[1]])
    shown = {}
    for name, e in ends.items():
        e = np.asarray(e, dtype=float)
        if np.all((e >= lo) & (e <= hi)):
            shown[name] = e
            continue
        d = e - x0
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(d > 0, (hi - x0) / d, np.where(d < 0, (lo - x0) / d, np.inf))
        shown[f"{name} (leaves the window)"] = x0 + 0.98 * min(1.0, float(np.min(s))) * d
    return shown


def plot_rosenbrock_steps(
    x0: ArrayLike,
    lam: float,
    ax: Axes | None = None,
    *,
    xlim: tuple[float, float] = (-1.6, 1.6),
    ylim: tuple[float, float] = (-0.6, 1.6),
) -> tuple[Axes, dict[str, np.ndarray]]:
    """Draw :func:`rosenbrock_steps` as arrows from ``x0`` over Rosenbrock's contours.

    Args:
        x0: the point, shape ``(2,)``.
        lam: :math:`\\lambda > 0`.
        ax: Axes to draw on (``None``: a new figure).
        xlim, ylim: the window. A step that leaves it is drawn up to its edge, and its legend
            entry ends in "(leaves the window)".

    Each method keeps its colour (``STEP_COLORS``). The pullback prox is drawn as a wide translucent
    arrow ending in a ring, so that the natural-gradient step, which lies on it for large
    :math:`\\lambda`, does not hide it. When a step is shorter than 4% of the window's width, an inset
    (``ax.step_inset``, else ``None``) redraws the steps around ``x0``, zoomed to 3 times the longest
    of the short ones.

    Returns:
        ``(ax, endpoints)`` with ``endpoints`` as :func:`rosenbrock_steps` returns.

    Example:
        >>> ax, ends = plot_rosenbrock_steps([-0.5, 1.0], 30.0)
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    ends = rosenbrock_steps(x0, lam)
    x0n = np.asarray(x0, dtype=float)
    plot_rosenbrock_contours(ax, xlim=xlim, ylim=ylim)
    shown = _clip_to_window(x0n, ends, xlim, ylim)
    base = lambda name: name.replace(" (leaves the window)", "")
    plot_steps(x0, shown, ax, colors={k: STEP_COLORS[base(k)] for k in shown},
               ringed=[k for k in shown if base(k) in _RINGED])
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_title(f"one step from x = ({float(x0[0]):.3g}, {float(x0[1]):.3g}), λ = {float(lam):.3g}")
    ax.step_inset = None
    # Steps shorter than 4% of the window's width would hide under the start marker: redraw every step
    # that fits in a zoomed inset around x0, at the scale of the shortest ones.
    lengths = {k: float(np.linalg.norm(e - x0n)) for k, e in ends.items()}
    width = xlim[1] - xlim[0]
    short = [k for k, n in lengths.items() if n < 0.04 * width]
    if short:
        half = 1.5 * max(lengths[k] for k in short)
        zx, zy = (x0n[0] - half, x0n[0] + half), (x0n[1] - half, x0n[1] + half)
        inset = ax.inset_axes([0.4, 0.55, 0.27, 0.38])  # above the valley, clear of the arrows and the legend
        plot_rosenbrock_contours(inset, xlim=zx, ylim=zy)
        zoomed = _clip_to_window(x0n, ends, zx, zy)
        plot_steps(x0, zoomed, inset, colors={k: STEP_COLORS[base(k)] for k in zoomed},
                   ringed=[k for k in zoomed if base(k) in _RINGED])
        inset.get_legend().remove()
        inset.set_xlim(*zx)
        inset.set_ylim(*zy)
        inset.set_xlabel("")
        inset.set_ylabel("")
        inset.set_title(f"zoom: {2 * half:.2g} wide", fontsize=7)
        inset.tick_params(labelsize=6)
        ax.indicate_inset_zoom(inset, edgecolor="0.3")
        ax.step_inset = inset
    return ax, ends


def rosenbrock_step_explorer(
    *, x0: Sequence[float] = (-0.5, 1.0), lam: float = 10.0
) -> widgets.VBox:
    r"""A log-scale slider for :math:`\lambda`, redrawing the five steps of :func:`rosenbrock_steps`.

    The same :math:`\lambda` is not the same step across metrics. Large :math:`\lambda` (say
    :math:`10^4`): the three steps of the Euclidean :math:`\rho` (GD, its prox, damped Gauss-Newton)
    agree with each other to first order, and so do the two of the pullback :math:`\rho` (its prox and
    the natural gradient), which are much shorter. Small :math:`\lambda`: GD overshoots out of the
    window (its arrow stops at the edge, and its legend entry says so); the Euclidean prox and damped
    Gauss-Newton, for which crossing the valley's steep wall is cheap, drop down the wall and lower
    :math:`\mathcal J` the most; the pullback prox measures the step in output space, where crossing
    the wall is expensive, and moves the outputs straight towards the output-space minimum, the way
    output-space gradient descent would. The natural gradient approximates that prox only for large
    :math:`\lambda`: from ``x0 = (-0.5, 1)`` at :math:`\lambda = 10` its step is longer than the
    Euclidean prox's.

    The returned box has attributes ``lam_slider``, ``output``, ``last_drawn`` (a dict
    ``{"lam": ...}``), ``last_endpoints``, ``last_figure`` and ``status`` (a hidden ``Text``
    widget reading ``"lam=..."``, for browser tests).

    Args:
        x0: the point the steps start from.
        lam: initial :math:`\lambda`, in ``[1, 1000]``.

    Returns:
        An ``ipywidgets.VBox``: the slider above the plot.

    Example:
        >>> box = rosenbrock_step_explorer(lam=10.0)
        >>> box.lam_slider.value = 100.0  # redraws
        >>> box.last_drawn["lam"]
        100.0

    References:
        Lecture 3 of this course.
    """
    if not 1.0 <= lam <= 1000.0:
        raise ValueError(f"lam must be in [1, 1000] (the slider's range), got {lam}.")
    lam_slider = widgets.FloatLogSlider(
        value=lam, base=10, min=0, max=3, step=0.05, description="λ", continuous_update=False,
        readout_format=".3g",
    )
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    box = widgets.VBox([lam_slider, status])

    def draw(lam: float) -> None:
        ax, ends = plot_rosenbrock_steps(x0, lam)
        fig = ax.figure
        box.last_figure = fig
        box.last_endpoints = ends
        box.last_drawn = {"lam": float(lam)}
        status.value = f"lam={float(lam):.4g}"
        if _inline_backend():
            plt.show()
        else:
            plt.close(fig)

    output = _interactive_output(draw, {"lam": lam_slider})
    box.children = (lam_slider, output, status)
    box.lam_slider, box.output, box.status = lam_slider, output, status
    return box


def gaussian_fisher_explorer(*, mu: float = 0.0, sigma: float = 1.0, radius: float = 0.25) -> widgets.VBox:
    r"""Sliders for a Gaussian's :math:`(\mu, \sigma)`, redrawing its Fisher ball and density.

    Draws :func:`gradtools.plotting.plot_gaussian_fisher`: the ball
    :math:`\delta^\top F \delta = r^2` with :math:`F = \operatorname{diag}(1/\sigma^2, 2/\sigma^2)`
    moves with the point and grows in proportion to :math:`\sigma`; the neighbouring densities on
    its boundary are all about :math:`r^2/2` nats of KL away.

    The returned box has attributes ``mu_slider``, ``sigma_slider``, ``output``, ``last_drawn``
    (``{"mu", "sigma"}``), ``last_figure`` and ``status`` (hidden ``Text``,
    ``"mu=..., sigma=..."``).

    Args:
        mu: initial mean, in ``[-2, 2]``.
        sigma: initial standard deviation, in ``[0.3, 3]``.
        radius: the ball's radius :math:`r`.

    Returns:
        An ``ipywidgets.VBox``.

    Example:
        >>> box = gaussian_fisher_explorer()
        >>> box.sigma_slider.value = 2.0  # redraws
        >>> box.last_drawn["sigma"]
        2.0

    References:
        Lecture 3 of this course; S. Amari (1998).
    """
    if not -2.0 <= mu <= 2.0:
        raise ValueError(f"mu must be in [-2, 2] (the slider's range), got {mu}.")
    if not 0.3 <= sigma <= 3.0:
        raise ValueError(f"sigma must be in [0.3, 3] (the slider's range), got {sigma}.")
    mu_slider = widgets.FloatSlider(
        value=mu, min=-2.0, max=2.0, step=0.1, description="μ", continuous_update=False, readout_format=".2f"
    )
    sigma_slider = widgets.FloatSlider(
        value=sigma, min=0.3, max=3.0, step=0.1, description="σ", continuous_update=False, readout_format=".2f"
    )
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    controls = widgets.HBox([mu_slider, sigma_slider])
    box = widgets.VBox([controls, status])

    def draw(mu: float, sigma: float) -> None:
        fig = plot_gaussian_fisher(mu, sigma, radius=radius)
        box.last_figure = fig
        box.last_drawn = {"mu": float(mu), "sigma": float(sigma)}
        status.value = f"mu={float(mu):.4g}, sigma={float(sigma):.4g}"
        if _inline_backend():
            plt.show()
        else:
            plt.close(fig)

    output = _interactive_output(draw, {"mu": mu_slider, "sigma": sigma_slider})
    box.children = (controls, output, status)
    box.mu_slider, box.sigma_slider, box.output, box.status = mu_slider, sigma_slider, output, status
    return box
