r"""The explorer of lecture 5: a slider over :math:`t` that walks along the straight line and the
trained Bezier curve between two networks, showing the loss and the networks' decisions.

The computing and drawing are plain, tested functions (:func:`path_state`,
:func:`plot_path_state`); the builder only wires a slider to them. The slider uses
``continuous_update=False``.

References:
    Lecture 5 of this course; T. Garipov et al., *Loss surfaces, mode connectivity, and fast
    ensembling of DNNs* (2018), https://arxiv.org/abs/1802.10026.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import ipywidgets as widgets
import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from IPython import get_ipython
from matplotlib.figure import Figure

from gradtools import connectivity, paths
from gradtools.plotting.connectivity import CONNECTIVITY_COLORS, plot_digit_decisions

__all__ = ["path_state", "plot_path_state", "connectivity_explorer"]

PyTree = Any


def _inline_backend() -> bool:
    return "inline" in matplotlib.get_backend().lower()


@functools.partial(jax.jit, static_argnums=0)
def _predictions(apply: Callable[[PyTree, jax.Array], jax.Array], pts: PyTree, x: jax.Array) -> jax.Array:
    # compiled once per model and shapes (a slider move must redraw quickly)
    return jax.vmap(lambda w: jnp.argmax(apply(w, x), -1))(pts)


def path_state(
    apply: Callable[[PyTree, jax.Array], jax.Array],
    w0: PyTree,
    theta: PyTree,
    w1: PyTree,
    x: jax.Array,
    y: jax.Array,
    t: float,
) -> dict[str, Any]:
    r"""The networks at parameter ``t`` on the line :math:`(1-t)w_0 + t w_1` and on the Bezier curve.

    Args:
        apply: ``apply(w, x) -> logits``.
        w0, theta, w1: the end points and the curve's control point.
        x, y: the data the loss is measured on, inputs ``(N, d)`` and labels ``(N,)``.
        t: a number in [0, 1].

    Returns:
        A dict with ``"t"`` and, for ``"line"`` and ``"curve"``, the mean cross-entropy
        (``"line_loss"``, ``"curve_loss"``) and the predicted labels on ``x``
        (``"line_pred"``, ``"curve_pred"``, NumPy int arrays ``(N,)``).

    Example:
        >>> import jax, jax.numpy as jnp, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([2, 3, 2])
        >>> w0, th, w1 = (init(jax.random.key(i)) for i in range(3))
        >>> s = path_state(apply, w0, th, w1, jnp.ones((4, 2)), jnp.zeros(4, int), 0.0)
        >>> bool(abs(s["line_loss"] - s["curve_loss"]) < 1e-6)     # both start at w0
        True
    """
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}.")
    t = float(t)
    pts = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), paths.linear(w0, w1, t), paths.bezier(w0, theta, w1, t))
    losses, _ = connectivity.evaluate_path(apply, pts, x, y)
    try:
        hash(apply)
    except TypeError:  # an unhashable callable cannot be a static argument
        preds = jax.vmap(lambda w: jnp.argmax(apply(w, x), -1))(pts)
    else:
        preds = _predictions(apply, pts, x)
    return {
        "t": t,
        "line_loss": float(losses[0]),
        "curve_loss": float(losses[1]),
        "line_pred": np.asarray(preds[0]),
        "curve_pred": np.asarray(preds[1]),
    }


def plot_path_state(
    state: dict[str, Any],
    ts: Any,
    line_losses: Any,
    curve_losses: Any,
    images: Any,
    labels: Any,
    *,
    fig: Figure | None = None,
) -> Figure:
    """Draw :func:`path_state`: the loss along both paths with the current ``t`` marked, and decisions.

    Top: training loss against ``t`` (log scale) for the line and the curve, in the colours they
    have in every figure of lecture 5 (:data:`gradtools.plotting.CONNECTIVITY_COLORS`), with markers
    at ``state["t"]``. Bottom: the images with the line's and the curve's predicted labels
    (:func:`gradtools.plotting.plot_digit_decisions`: a network's label is red where that network
    is wrong).

    Args:
        state: the output of :func:`path_state` (predictions on the shown ``images``).
        ts, line_losses, curve_losses: the loss profiles to draw, shape ``(K,)`` each.
        images, labels: the ``M`` inputs ``(M, 64)`` the predictions refer to and their labels.
        fig: a Figure to draw into (cleared), or ``None``.

    Returns:
        The Figure: one loss Axes, then ``M`` image Axes.

    Example:
        >>> import numpy as np
        >>> s = {"t": 0.5, "line_loss": 0.3, "curve_loss": 1e-3, "line_pred": np.array([1]), "curve_pred": np.array([2])}
        >>> fig = plot_path_state(s, [0, 0.5, 1], [1e-3, 0.3, 1e-3], [1e-3, 1e-3, 1e-3], np.zeros((1, 64)), [2])
        >>> [t.get_text() for t in fig.axes[1].texts]
        ['line: 1', 'curve: 2']
    """
    m = np.shape(images)[0]
    if fig is None:
        fig = plt.figure(figsize=(max(7.0, 1.4 * m), 5.2))
    fig.clear()
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.5, 1.0])
    ax = top.subplots()
    c_line, c_curve = CONNECTIVITY_COLORS["straight line"], CONNECTIVITY_COLORS["Bezier curve"]
    ax.semilogy(ts, line_losses, "--", color=c_line, label="straight line")
    ax.semilogy(ts, curve_losses, "-", color=c_curve, label="Bezier curve")
    ax.semilogy([state["t"]], [state["line_loss"]], "o", color=c_line)
    ax.semilogy([state["t"]], [state["curve_loss"]], "o", color=c_curve)
    ax.axvline(state["t"], color="0.6", lw=1)
    ax.set_xlabel("t")
    ax.set_ylabel("training loss")
    ax.set_title(f"t = {state['t']:.2f}: line loss {state['line_loss']:.2g}, curve loss {state['curve_loss']:.2g}")
    ax.legend(fontsize=8)
    plot_digit_decisions(images, labels, {"line": state["line_pred"], "curve": state["curve_pred"]}, fig=bottom)
    return fig


def connectivity_explorer(
    apply: Callable[[PyTree, jax.Array], jax.Array],
    w0: PyTree,
    theta: PyTree,
    w1: PyTree,
    x: jax.Array,
    y: jax.Array,
    images: jax.Array,
    labels: jax.Array,
    *,
    t: float = 0.5,
    num_points: int = 41,
) -> widgets.VBox:
    r"""A slider over :math:`t \in [0, 1]` walking along the line and the curve between ``w0`` and ``w1``.

    The loss profiles on ``(x, y)`` are computed once at ``num_points`` values of ``t``; each move
    of the slider computes :func:`path_state` on the shown ``images`` and the current loss values,
    and redraws :func:`plot_path_state`. Watch the line's decisions go wrong in the middle while the
    curve's stay right.

    The returned box has attributes ``t_slider``, ``output``, ``last_drawn`` (``{"t": ...}``),
    ``last_state``, ``last_figure`` and ``status`` (a hidden ``Text`` reading ``"t=..."``, for
    browser tests).

    Args:
        apply: ``apply(w, x) -> logits``.
        w0, theta, w1: end points and the curve's control point.
        x, y: the data for the loss (the training set).
        images, labels: the few inputs ``(M, 64)`` whose decisions are shown, and their labels.
        t: initial value.
        num_points: points of the loss profiles.

    Returns:
        An ``ipywidgets.VBox``: the slider above the plot.

    Example:
        >>> import jax, jax.numpy as jnp, gradtools as gt
        >>> init, apply = gt.problems.make_mlp([64, 3, 10])
        >>> w0, th, w1 = (init(jax.random.key(i)) for i in range(3))
        >>> x, y = jnp.ones((5, 64)), jnp.arange(5)
        >>> box = connectivity_explorer(apply, w0, th, w1, x, y, x[:2], y[:2], num_points=5)
        >>> box.t_slider.value = 0.25
        >>> box.last_drawn["t"]
        0.25
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1] (the slider's range), got {t}.")
    ts = np.linspace(0.0, 1.0, int(num_points))
    line_l, _ = connectivity.evaluate_path(apply, paths.path_points(lambda s: paths.linear(w0, w1, s), int(num_points)), x, y)
    curve_l, _ = connectivity.evaluate_path(apply, paths.path_points(lambda s: paths.bezier(w0, theta, w1, s), int(num_points)), x, y)
    line_l, curve_l = np.asarray(line_l), np.asarray(curve_l)

    t_slider = widgets.FloatSlider(value=t, min=0.0, max=1.0, step=0.05, description="t", continuous_update=False, readout_format=".2f")
    status = widgets.Text(value="", description="last drawn", layout=widgets.Layout(display="none"))
    box = widgets.VBox([t_slider, status])

    def draw(t: float) -> None:
        state = path_state(apply, w0, theta, w1, x, y, t)
        shown = path_state(apply, w0, theta, w1, images, labels, t)
        state["line_pred"], state["curve_pred"] = shown["line_pred"], shown["curve_pred"]
        fig = plot_path_state(state, ts, line_l, curve_l, images, labels)
        box.last_figure = fig
        box.last_state = state
        box.last_drawn = {"t": float(t)}
        status.value = f"t={float(t):.4g}"
        if _inline_backend():
            plt.show()
        else:
            plt.close(fig)

    output = widgets.Output()

    def update(change: Any = None) -> None:
        # ipywidgets.interactive_output, without its terminal escape codes outside a kernel.
        if get_ipython() is not None:
            output.clear_output(wait=True)
        else:
            output.outputs = ()
        with output:
            draw(t_slider.value)

    t_slider.observe(update, "value")
    update()
    box.children = (t_slider, output, status)
    box.t_slider, box.output, box.status = t_slider, output, status
    return box
