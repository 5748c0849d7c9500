r"""Plots of lecture 4 (behavior manifolds): contour planes of training inputs, first- versus
second-order change of the outputs, singular-value spectra against a rank cutoff, a walk along a
solution manifold, and the several-seed rank experiment.

Every function draws on a matplotlib Axes (``ax=None`` makes a new figure) and returns the Axes.

References:
    Lecture 4 of this course; V. Hebbar, "Information Loss --> Basin flatness" (2022),
    https://www.lesswrong.com/posts/QPqztHpToij2nx7ET/information-loss-basin-flatness.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes

from gradtools.spectrum import numerical_rank

__all__ = [
    "contour_lines",
    "plot_contour_planes",
    "plot_output_change",
    "plot_rank_spectra",
    "plot_manifold_walk",
    "plot_rank_experiment",
]

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def contour_lines(normal: ArrayLike, levels: ArrayLike, lim: float) -> list[np.ndarray]:
    r"""End points of the contour lines :math:`n \cdot \theta = c` in the window :math:`[-\mathrm{lim}, \mathrm{lim}]^2`.

    For a linear output :math:`f(\theta; x) = \theta\cdot x` the contour planes of input
    :math:`x` cut the page :math:`(\theta_1, \theta_2)` in lines perpendicular to the page-part
    :math:`n = (x_1, x_2)` of its behavioral gradient.

    Args:
        normal: ``(2,)``, not zero.
        levels: the values :math:`c`.
        lim: half-width of the window.

    Returns:
        One ``(2, 2)`` array (two end points, far outside the window) per level.

    Example:
        >>> seg = contour_lines([1.0, 0.0], [0.5], 2.0)[0]
        >>> seg[:, 0].tolist()
        [0.5, 0.5]
    """
    n = np.asarray(normal, dtype=float)
    if n.shape != (2,) or not np.linalg.norm(n) > 0:
        raise ValueError(f"normal must be a non-zero vector of shape (2,), got {normal!r}.")
    t = np.array([-n[1], n[0]]) / np.linalg.norm(n)
    out = []
    for c in np.atleast_1d(np.asarray(levels, dtype=float)):
        p = c * n / (n @ n)
        out.append(np.stack([p - 4 * lim * t, p + 4 * lim * t]))
    return out


def plot_contour_planes(
    inputs: ArrayLike, ax: Axes | None = None, *, lim: float = 2.0, levels: Sequence[float] = (-2, -1, 0, 1, 2),
    title: str | None = None,
) -> Axes:
    r"""Contour planes of a 3-parameter linear model :math:`f(\theta; x) = \theta\cdot x`, one family per input.

    The page is :math:`(\theta_1, \theta_2)`; :math:`\theta_3` points out of the page. Input
    :math:`x_i` contributes the planes :math:`\theta\cdot x_i = c` (drawn where they cut the page,
    one colour per input). Behavior manifolds are the intersections: where the behavioral
    gradients are independent (rank 2) they are lines running out of the page, drawn as black dots
    where two contour lines cross; where they are parallel (rank 1) the planes coincide and the
    manifolds are planes. The title gives the rank and the manifold dimension :math:`3 - r`.

    Args:
        inputs: ``(m, 3)`` training inputs (here 2); the third coordinates must be zero so the
            planes are perpendicular to the page.
        ax: Axes to draw on.
        lim: half-width of the window.
        levels: the output values drawn.
        title: a prefix for the title.

    Returns:
        The Axes; ``ax.behavior_rank`` and ``ax.manifold_dim`` hold the two numbers in the title.

    Example:
        >>> ax = plot_contour_planes([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> ax.behavior_rank, ax.manifold_dim
        (2, 1)
    """
    X = np.asarray(inputs, dtype=float)
    if X.ndim != 2 or X.shape[1] != 3 or not np.allclose(X[:, 2], 0.0):
        raise ValueError(f"inputs must be (m, 3) with a zero third column (planes perpendicular to the page), got {X.tolist()}.")
    ax = _new_ax(ax, (4.2, 4.0))
    r = numerical_rank(X, rtol=1e-9)  # parallel up to round-off of cos/sin counts as parallel
    for i, x in enumerate(X):
        for j, seg in enumerate(contour_lines(x[:2], levels, lim)):
            ax.plot(seg[:, 0], seg[:, 1], color=_COLORS[i % len(_COLORS)], lw=1.2 + 0.8 * i,
                    alpha=0.8, ls="-" if i == 0 else "--", label=f"input {i + 1}" if j == 0 else None)
    if r == 2 and len(X) == 2:
        A = X[:, :2]
        pts = np.array([np.linalg.solve(A, [a, b]) for a in levels for b in levels])
        ax.plot(pts[:, 0], pts[:, 1], "k.", ms=7, label="manifolds (lines out of the page)")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    dim = 3 - r
    ax.set_title(f"{title + ': ' if title else ''}rank {r}, manifolds {dim}-D")
    ax.legend(loc="upper right", fontsize=7)
    ax.behavior_rank, ax.manifold_dim = r, dim
    return ax


def plot_output_change(ts: ArrayLike, changes: Mapping[str, ArrayLike], ax: Axes | None = None) -> Axes:
    r"""Log-log plot of :math:`\|f(\theta + t v) - f(\theta)\|` against the step :math:`t`, one curve per direction.

    Dotted reference lines of slope 1 and 2 through each curve's first point.

    Example:
        >>> import numpy as np
        >>> ax = plot_output_change(np.array([1e-3, 1e-2]), {"row": np.array([1e-3, 1e-2])})
        >>> len(ax.lines)
        3
    """
    ts = np.asarray(ts, dtype=float)
    ax = _new_ax(ax)
    for i, (name, d) in enumerate(changes.items()):
        d = np.asarray(d, dtype=float)
        if d.shape != ts.shape:
            raise ValueError(f"changes[{name!r}] must have the shape of ts {ts.shape}, got {d.shape}.")
        ax.loglog(ts, d, "o-", color=_COLORS[i], label=name)
    d0 = np.asarray(next(iter(changes.values())), dtype=float)[0]
    for p in (1, 2):
        ax.loglog(ts, d0 * (ts / ts[0]) ** p, ":", color="gray")
        ax.annotate(f"slope {p}", (ts[-1], d0 * (ts[-1] / ts[0]) ** p), fontsize=8, color="gray")
    ax.set_xlabel("step length t")
    ax.set_ylabel(r"$\|f(\theta + t v) - f(\theta)\|$")
    ax.legend(fontsize=8)
    return ax


def plot_rank_spectra(values: Mapping[str, ArrayLike], rtol: float, ax: Axes | None = None) -> Axes:
    r"""Sorted :math:`|s_i| / \max_j |s_j|` on a log scale, one series per matrix, with the cutoff ``rtol``.

    Values above the dashed line count in the rank. Exact zeros are drawn at ``1e-18`` (the bottom).

    Example:
        >>> import numpy as np
        >>> ax = plot_rank_spectra({"J": np.array([2.0, 1.0, 0.0])}, 1e-8)
        >>> ax.get_yscale()
        'log'
    """
    ax = _new_ax(ax, (5.5, 3.5))
    for i, (name, s) in enumerate(values.items()):
        s = np.sort(np.abs(np.asarray(s, dtype=float)))[::-1]
        s = np.maximum(s / s[0], 1e-18)
        ax.semilogy(np.arange(1, len(s) + 1), s, "o", ms=5 - i, color=_COLORS[i], label=name)
    ax.axhline(rtol, ls="--", color="k", lw=1, label=f"cutoff rtol = {rtol:g}")
    ax.set_xlabel("index i (sorted)")
    ax.set_ylabel(r"$|s_i| / s_{\max}$")
    ax.set_ylim(1e-19, 3)
    ax.legend(fontsize=8)
    return ax


def plot_manifold_walk(
    x_test: ArrayLike, test_outputs: ArrayLike, x_train: ArrayLike, y_train: ArrayLike, ax: Axes | None = None,
) -> Axes:
    r"""Functions along a walk on a solution manifold: each ``test_outputs[j]`` is one point of the walk.

    The curves fan out between and beyond the training inputs (the behavior off the training set
    changes) while all pass through the training points (black dots): the behavior on the
    training set is the same along the whole walk.

    Args:
        x_test: ``(m,)`` test inputs (1-D).
        test_outputs: ``(T, m)`` outputs at the test inputs, one row per point on the walk.
        x_train, y_train: ``(k,)`` training inputs and targets.

    Example:
        >>> import numpy as np
        >>> ax = plot_manifold_walk(np.linspace(0, 1, 5), np.zeros((3, 5)), [0.5], [0.0])
        >>> len(ax.lines)
        4
    """
    xt = np.asarray(x_test, dtype=float).ravel()
    F = np.asarray(test_outputs, dtype=float)
    if F.ndim != 2 or F.shape[1] != xt.size:
        raise ValueError(f"test_outputs must be (T, {xt.size}) (one row per walk point), got shape {F.shape}.")
    ax = _new_ax(ax, (5.5, 3.8))
    cmap = plt.get_cmap("viridis")
    for j, row in enumerate(F):
        ax.plot(xt, row, color=cmap(j / max(len(F) - 1, 1)), lw=1.2)
    ax.plot(np.asarray(x_train, dtype=float).ravel(), np.asarray(y_train, dtype=float).ravel(), "ko", ms=6,
            label="training points")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    ax.figure.colorbar(sm, ax=ax, label="fraction of the walk")
    ax.set_xlabel("x")
    ax.set_ylabel("f(θ; x)")
    ax.legend(fontsize=8)
    return ax


def plot_rank_experiment(
    num_params: Sequence[int], num_zero_loss: Sequence[int], num_deficient: Sequence[int], ax: Axes | None = None,
) -> Axes:
    r"""Bars: for each network size, how many runs reached zero loss and how many of those minima
    have a Hessian of less than full rank.

    Example:
        >>> ax = plot_rank_experiment([7, 19], [9, 16], [9, 3])
        >>> len(ax.patches)
        4
    """
    n = len(num_params)
    if not (len(num_zero_loss) == len(num_deficient) == n):
        raise ValueError("num_params, num_zero_loss and num_deficient must have the same length.")
    ax = _new_ax(ax, (5.5, 3.5))
    pos = np.arange(n)
    ax.bar(pos - 0.2, num_zero_loss, width=0.4, color=_COLORS[0], label="runs reaching zero loss")
    ax.bar(pos + 0.2, num_deficient, width=0.4, color=_COLORS[3], label="... with rank(H) < k")
    ax.set_xticks(pos, [f"N = {p}" for p in num_params])
    ax.set_ylabel("number of runs")
    ax.legend(fontsize=8)
    return ax
