r"""Plots of lecture 6 (weight-space geodesics): paths of the two-parameter model in weight and
output space, output speed along discrete paths, and the functionally-invariant-path experiments
(accuracy against sparsity, accuracy of two tasks along a path).

Multi-panel functions return the Figure, the others the Axes (``ax=None`` makes a new figure).

References:
    Lecture 6 of this course; G. Raghavan, M. Thomson (2021), https://arxiv.org/abs/2106.02793;
    G. Raghavan et al., Nature Machine Intelligence (2024), https://doi.org/10.1038/s42256-024-00902-x.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradtools.geodesics import sinusoid_coords

__all__ = [
    "COLORS",
    "path_color",
    "plot_sinusoid_paths",
    "plot_segment_speeds",
    "plot_sparsity_accuracy",
    "plot_task_accuracies",
]


#: One colour per object, in the lecture's figures and in its explorer.
COLORS = {"geodesic": "tab:blue", "straight line": "tab:orange"}


def path_color(name: str) -> str | None:
    """The colour of a path named ``name``: :data:`COLORS` ``["geodesic"]`` when the name contains
    "geodesic", ``["straight line"]`` when it contains "line", else ``None`` (the next colour).

    Example:
        >>> path_color("discrete geodesic"), path_color("straight line in w"), path_color("other")
        ('tab:blue', 'tab:orange', None)
    """
    lower = name.lower()
    if "geodesic" in lower:
        return COLORS["geodesic"]
    if "line" in lower:
        return COLORS["straight line"]
    return None


#: Styles of successive paths that share a colour: a line, then dots on it, then dashes.
_STYLES = ({"ls": "-"}, {"ls": "none", "marker": "o", "markersize": 4}, {"ls": "--"})


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5.0, 3.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_w2(path: ArrayLike, name: str) -> np.ndarray:
    p = np.asarray(path, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{name} must be points (r, phi) of shape (num_points, 2), got shape {p.shape}.")
    return p


def plot_sinusoid_paths(paths: Mapping[str, ArrayLike], *, axes: tuple[Axes, Axes] | None = None) -> Figure:
    r"""Paths of the two-parameter model (:func:`gradtools.geodesics.sinusoid`), side by side in
    weight space :math:`(r, \varphi)` and in output space :math:`z` (:func:`gradtools.geodesics.sinusoid_coords`).

    In output space the RMS output distance is the Euclidean distance, so geodesics are straight
    segments there; a straight line in weight space bends around the origin (where the metric is
    singular, marked with a cross). Colours follow :func:`path_color` (geodesics blue, straight
    lines orange); paths of one colour are drawn as a line, then as dots, then dashed, so that
    paths which coincide stay visible. Both panels have a legend.

    Args:
        paths: name -> ``(num_points, 2)`` points ``(r, phi)``; the first point is circled.
        axes: two Axes (``None``: a new 1x2 figure).

    Returns:
        The Figure; the lines carry the names as labels, the output-space lines the points
        :math:`z` as data.

    Example:
        >>> import numpy as np
        >>> fig = plot_sinusoid_paths({"line": np.array([[1.0, 0.0], [1.0, 1.0]])})
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8))
    else:
        fig = axes[0].figure
    aw, az = axes
    used: dict[str, int] = {}
    for name, path in paths.items():
        p = _as_w2(path, f"paths[{name!r}]")
        z = np.asarray(sinusoid_coords(p))
        color = path_color(name)
        k = used.get(color, 0) if color is not None else 0
        style = _STYLES[k % len(_STYLES)]
        (line,) = aw.plot(p[:, 1], p[:, 0], label=name, color=color, **style)
        color = line.get_color()
        used[color] = used.get(color, 0) + 1
        aw.plot(p[0, 1], p[0, 0], "o", mfc="none", mec=color, markersize=9)
        az.plot(z[:, 0], z[:, 1], label=name, color=color, **style)
        az.plot(z[0, 0], z[0, 1], "o", mfc="none", mec=color, markersize=9)
    aw.set_xlabel(r"phase $\varphi$")
    aw.set_ylabel(r"amplitude $r$")
    aw.set_title("weight space")
    az.plot([0], [0], "x", color="k")
    az.set_aspect("equal", adjustable="datalim")
    az.set_xlabel(r"$z_1 = r\cos\varphi/\sqrt{2}$")
    az.set_ylabel(r"$z_2 = r\sin\varphi/\sqrt{2}$")
    az.set_title("output space (RMS distance = Euclidean)")
    aw.legend(fontsize=8)
    az.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_segment_speeds(speeds: Mapping[str, ArrayLike], ax: Axes | None = None) -> Axes:
    r"""Output distance moved on each segment of discrete paths, :math:`d_k`, against :math:`k`.

    A constant-speed path is a flat line; the area under a line is the path's length. Colours
    follow :func:`path_color`.

    Args:
        speeds: name -> ``(K,)`` segment lengths (:func:`gradtools.paths.segment_lengths`).
        ax: Axes to draw on.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_segment_speeds({"straight": [0.1, 0.3, 0.1], "geodesic": [0.15, 0.15, 0.15]})
    """
    ax = _new_ax(ax)
    for name, d in speeds.items():
        d = np.asarray(d, dtype=float)
        if d.ndim != 1:
            raise ValueError(f"speeds[{name!r}] must be 1-D segment lengths, got shape {d.shape}.")
        ax.plot(np.arange(len(d)) + 0.5, d, "o-", label=name, color=path_color(name))
    ax.set_xlabel("segment k")
    ax.set_ylabel(r"output distance $d_k$ (RMS)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return ax


_AFTER_MARKERS = (("*", 17), ("P", 10), ("X", 7), ("D", 5))
_RUN_WIDTHS = (4.5, 2.8, 1.4, 0.8)


def plot_sparsity_accuracy(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    reference: float | None = None,
    after: Mapping[str, tuple[float, float]] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Test accuracy (percent) against the target sparsity, one line per method.

    The x-axis is the *target* sparsity: the fraction of weights marked for zero. For one-shot
    pruning the marked weights are zero; along a FIP path they are only small until the final
    prune, whose results ``after`` marks as single points.

    Args:
        curves: name -> ``(target sparsities, accuracies in percent)``, arrays of equal length.
        reference: the accuracy of the dense network, drawn as a dashed line.
        after: name -> ``(sparsity, accuracy in percent)``: final networks, drawn as single points,
            each smaller than the one before and of another shape (a star, a plus, a cross, a
            diamond), so that points at the same place stay visible.
        ax: Axes to draw on.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_sparsity_accuracy({"FIP": ([0.5, 0.8], [97, 96])}, reference=97.5)
    """
    ax = _new_ax(ax)
    for name, (s, a) in curves.items():
        s, a = np.asarray(s, dtype=float), np.asarray(a, dtype=float)
        if s.shape != a.shape or s.ndim != 1:
            raise ValueError(f"curves[{name!r}] must be two 1-D arrays of equal length, got {s.shape} and {a.shape}.")
        ax.plot(100 * s, a, "o-", markersize=3, label=name)
    if reference is not None:
        ax.axhline(float(reference), ls="--", color="0.5", label="dense network")
    for k, (name, (s, a)) in enumerate((after or {}).items()):
        marker, size = _AFTER_MARKERS[k % len(_AFTER_MARKERS)]
        ax.plot([100 * float(s)], [float(a)], marker, markersize=size, mec="k", mew=0.6, label=name)
    ax.set_xlabel("target sparsity: weights marked for zero (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    return ax


def plot_task_accuracies(
    runs: Mapping[str, tuple[ArrayLike, ArrayLike]], ax: Axes | None = None
) -> Axes:
    """Accuracy (percent) on task 1 (solid) and task 2 (dashed) after each step of each run.

    Each run is drawn thinner than the one before, so that where two runs' curves coincide the
    earlier one shows as a wide band around the later one.

    Args:
        runs: name -> ``(task1 accuracies, task2 accuracies)`` in percent, each ``(num_steps,)``.
        ax: Axes to draw on.

    Returns:
        The Axes; line labels read ``"<name>: task 1"`` and ``"<name>: task 2"``.

    Example:
        >>> ax = plot_task_accuracies({"FIP": ([99, 98], [20, 80])})
    """
    ax = _new_ax(ax, (6.0, 3.6))
    for k, (name, (a1, a2)) in enumerate(runs.items()):
        a1, a2 = np.asarray(a1, dtype=float), np.asarray(a2, dtype=float)
        if a1.shape != a2.shape or a1.ndim != 1:
            raise ValueError(f"runs[{name!r}] must be two 1-D arrays of equal length, got {a1.shape} and {a2.shape}.")
        steps = np.arange(1, len(a1) + 1)
        width = _RUN_WIDTHS[min(k, len(_RUN_WIDTHS) - 1)]
        (line,) = ax.plot(steps, a1, "-", lw=width, label=f"{name}: task 1")
        ax.plot(steps, a2, "--", lw=width, color=line.get_color(), label=f"{name}: task 2")
    ax.set_xlabel("step along the path")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=8)
    return ax
