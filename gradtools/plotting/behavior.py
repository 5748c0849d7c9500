r"""Plots of lecture 4 (behavior manifolds): contour planes of training inputs, first- versus
second-order change of the outputs, singular-value spectra against a rank cutoff, a walk along a
solution manifold, and the several-seed rank experiment.

Every function draws on a matplotlib Axes (``ax=None`` makes a new figure) and returns the Axes.

References:
    Lecture 4 of this course; V. Hebbar, "Information Loss --> Basin flatness" (2022),
    https://www.lesswrong.com/posts/wPudaEemohdYPmsye/information-loss-greater-than-basin-flatness.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from gradtools.spectrum import numerical_rank

__all__ = [
    "contour_lines",
    "plot_contour_planes",
    "unobstructed",
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


def _canonical_line(normal: np.ndarray, value: float) -> tuple[float, float, float]:
    """The line ``normal . theta = value`` as (unit normal, signed distance), with a fixed orientation."""
    n = np.asarray(normal, dtype=float)
    norm = np.linalg.norm(n)
    u, d = n / norm, float(value) / norm
    if u[0] < -1e-12 or (abs(u[0]) <= 1e-12 and u[1] < 0):  # one orientation per line
        u, d = -u, -d
    return tuple(float(v) for v in np.round([u[0], u[1], d], 9) + 0.0)


def plot_contour_planes(
    inputs: ArrayLike, ax: Axes | None = None, *, lim: float = 2.0, offsets: Sequence[float] = (-2, -1, 0, 1, 2),
    title: str | None = None, legend: bool = True,
) -> Axes:
    r"""Contour planes of a 3-parameter linear model :math:`f(\theta; x) = \theta\cdot x`, one family per input.

    The page is :math:`(\theta_1, \theta_2)`; :math:`\theta_3` points out of the page. Input
    :math:`x_i` contributes the planes :math:`\theta\cdot x_i = c` (drawn where they cut the page,
    one colour and line style per input). Every input gets the lines at the same signed distances
    ``offsets`` from the origin along its own normal, i.e. the output values
    :math:`c = \text{offset}\cdot\|x_i\|`: the lines of all inputs are equally spaced, and when
    two inputs are parallel (with ``offsets`` symmetric about 0) each line of one input *is* a line
    of the other, as the two contour families coincide. Behavior manifolds are the intersections:
    where the behavioral gradients are independent (rank 2) they are lines running out of the
    page, drawn as black dots where two drawn contour lines cross inside the square
    :math:`[-\mathrm{lim}, \mathrm{lim}]^2`; where they are parallel (rank 1) the planes coincide
    and the manifolds are planes. The window is that square plus a margin, so no dot is cut off,
    and the legend sits below the Axes, where it covers nothing. The title gives the rank and the
    manifold dimension :math:`3 - r`.

    Args:
        inputs: ``(m, 3)`` training inputs (here 2); the third coordinates must be zero so the
            planes are perpendicular to the page.
        ax: Axes to draw on.
        lim: half-width of the square in which crossings are marked.
        offsets: signed distances from the origin of the drawn lines (the same for every input).
        title: a prefix for the title.
        legend: draw the legend (below the Axes).

    Returns:
        The Axes, with attributes ``behavior_rank`` and ``manifold_dim`` (the two numbers in the
        title), ``contour_lines_drawn`` (one sorted list of lines per input, each line as
        ``(u1, u2, d)``: unit normal with a fixed orientation and signed distance, rounded to
        1e-9, so equal entries are the same line) and ``manifold_points`` (``(p, 2)``, the dots).

    Example:
        >>> ax = plot_contour_planes([[0.8, 0.6, 0.0], [-1.6, -1.2, 0.0]])   # input 2 = -2 input 1
        >>> ax.behavior_rank, ax.manifold_dim, ax.contour_lines_drawn[0] == ax.contour_lines_drawn[1]
        (1, 2, True)
    """
    X = np.asarray(inputs, dtype=float)
    if X.ndim != 2 or X.shape[1] != 3 or not np.allclose(X[:, 2], 0.0):
        raise ValueError(f"inputs must be (m, 3) with a zero third column (planes perpendicular to the page), got {X.tolist()}.")
    if np.any(np.linalg.norm(X[:, :2], axis=1) == 0):
        raise ValueError(f"every input needs a non-zero page part (x_1, x_2), got {X.tolist()}.")
    ax = _new_ax(ax, (4.2, 4.6))
    offsets = np.atleast_1d(np.asarray(offsets, dtype=float))
    r = numerical_rank(X, rtol=1e-9)  # parallel up to round-off of cos/sin counts as parallel
    drawn = []
    for i, x in enumerate(X):
        n = x[:2]
        values = offsets * np.linalg.norm(n)
        for j, seg in enumerate(contour_lines(n, values, lim)):
            # input 1 wide and solid underneath, input 2 narrower and dashed on top: where they
            # coincide, both stay visible
            ax.plot(seg[:, 0], seg[:, 1], color=_COLORS[i % len(_COLORS)], lw=2.8 if i == 0 else 1.4,
                    ls="-" if i == 0 else "--", zorder=1 + i, label=f"input {i + 1}" if j == 0 else None)
        drawn.append(sorted(_canonical_line(n, c) for c in values))
    pts = np.zeros((0, 2))
    if r == 2 and len(X) == 2:
        A = X[:, :2]
        v1, v2 = offsets * np.linalg.norm(A[0]), offsets * np.linalg.norm(A[1])
        pts = np.array([np.linalg.solve(A, [a, b]) for a in v1 for b in v2])
        pts = pts[np.all(np.abs(pts) <= lim + 1e-9, axis=1)]
        ax.plot(pts[:, 0], pts[:, 1], "k.", ms=8, zorder=5, label="manifolds (lines out of the page)")
    pad = 0.12 * lim
    ax.set_xlim(-lim - pad, lim + pad)
    ax.set_ylim(-lim - pad, lim + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    dim = 3 - r
    ax.set_title(f"{title + ': ' if title else ''}rank {r}, manifolds {dim}-D")
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=7, frameon=False)
    ax.behavior_rank, ax.manifold_dim = r, dim
    ax.contour_lines_drawn, ax.manifold_points = drawn, pts
    return ax


def unobstructed(ax: Axes) -> dict:
    r"""What a reader could miss in a drawn Axes: markers cut off by the window, a legend on the data.

    Draws the figure, then checks every line's markers lie inside the view limits by at least
    their radius, and that the legend (if any) does not overlap the Axes.

    Returns:
        ``{"clipped_markers": number of markers cut off or outside, "legend_overlaps": bool}``.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> _ = ax.plot([0.0, 1.0], [0.0, 1.0], "k.")        # autoscaled: a margin around the dots
        >>> unobstructed(ax)
        {'clipped_markers': 0, 'legend_overlaps': False}
        >>> ax.set_xlim(0.0, 1.0)                             # dots on the edge: cut in half
        (0.0, 1.0)
        >>> unobstructed(ax)["clipped_markers"]
        2
    """
    fig = ax.figure
    fig.canvas.draw()
    box = ax.get_window_extent()
    clipped = 0
    for ln in ax.lines:
        if ln.get_marker() in (None, "None", "", " ") or not ln.get_visible():
            continue
        xy = ax.transData.transform(np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float))
        radius = ln.get_markersize() / 2 * fig.dpi / 72.0
        inside = ((xy[:, 0] - radius >= box.x0) & (xy[:, 0] + radius <= box.x1)
                  & (xy[:, 1] - radius >= box.y0) & (xy[:, 1] + radius <= box.y1))
        clipped += int(np.sum(~inside))
    leg = ax.get_legend()
    overlaps = bool(leg is not None and leg.get_window_extent().overlaps(box))
    return {"clipped_markers": clipped, "legend_overlaps": overlaps}


def plot_output_change(
    ts: ArrayLike, changes: Mapping[str, ArrayLike], ax: Axes | None = None, *,
    slopes: Mapping[str, float] | None = None, guide_offset: float = 4.0,
) -> Axes:
    r"""Log-log plot of :math:`\|f(\theta + t v) - f(\theta)\|` against the step :math:`t`, one curve per direction.

    Each curve gets a dotted guide of its own slope (``slopes[name]``; default: the least-squares
    slope of that curve, rounded to an integer), in its colour, anchored to its own first point:
    the guide runs parallel to the power law of that order through that point, ``guide_offset``
    times lower so that it does not hide the curve, and is labelled "slope p" at its right end. A
    curve that keeps a constant distance from its guide is a power law of that order.

    Returns:
        The Axes, with ``slope_guides``: ``{name: (slope, guide values at ts)}``.

    Example:
        >>> import numpy as np
        >>> ts = np.array([1e-3, 1e-2])
        >>> ax = plot_output_change(ts, {"row": ts, "null": ts ** 2})
        >>> len(ax.lines), {k: v[0] for k, v in ax.slope_guides.items()}
        (4, {'row': 1.0, 'null': 2.0})
    """
    ts = np.asarray(ts, dtype=float)
    if not guide_offset > 0:
        raise ValueError(f"guide_offset must be positive, got {guide_offset!r}.")
    ax = _new_ax(ax)
    guides = {}
    for i, (name, d) in enumerate(changes.items()):
        d = np.asarray(d, dtype=float)
        if d.shape != ts.shape:
            raise ValueError(f"changes[{name!r}] must have the shape of ts {ts.shape}, got {d.shape}.")
        ax.loglog(ts, d, "o-", color=_COLORS[i], label=name)
        if slopes is not None and name in slopes:
            p = float(slopes[name])
        else:
            p = float(np.round(np.polyfit(np.log(ts), np.log(d), 1)[0]))
        guide = d[0] / guide_offset * (ts / ts[0]) ** p
        ax.loglog(ts, guide, ":", color=_COLORS[i], lw=1.5)
        ax.annotate(f"slope {p:g}", (ts[-1], guide[-1]), xytext=(4, -3), textcoords="offset points",
                    fontsize=8, color=_COLORS[i])
        guides[name] = (p, guide)
    ax.set_xlim(ts[0] / 2, ts[-1] * 6)  # room for the labels at the right
    ax.set_xlabel("step length t")
    ax.set_ylabel(r"$\|f(\theta + t v) - f(\theta)\|$")
    ax.legend(fontsize=8, loc="upper left")
    ax.slope_guides = guides
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
        style = dict(ms=4) if i == 0 else dict(ms=4 + 3 * i, mfc="none", mew=1.2)  # rings: the filled series shows
        ax.semilogy(np.arange(1, len(s) + 1), s, "o", color=_COLORS[i], label=name, **style)
    ax.axhline(rtol, ls="--", color="k", lw=1, label=f"cutoff rtol = {rtol:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    *, num_at_kink: Sequence[int] | None = None, num_deficient_at_kink: Sequence[int] | None = None,
) -> Axes:
    r"""Bars: for each network size, how many runs reached zero loss and how many of those minima
    have a Hessian of less than full rank; optionally also how many of them have a training input
    on the kink of a hidden unit (where the loss is not twice differentiable), and, hatched inside the
    rank-deficient bar, how many of the rank-deficient ones do. The count axis has integer ticks.

    Example:
        >>> ax = plot_rank_experiment([7, 19], [9, 16], [9, 3])
        >>> len(ax.patches)
        4
        >>> len(plot_rank_experiment([7, 19], [9, 16], [9, 3], num_at_kink=[7, 8]).patches)
        6
        >>> ax = plot_rank_experiment([7, 19], [9, 16], [9, 3], num_at_kink=[7, 8], num_deficient_at_kink=[8, 3])
        >>> [int(p.get_height()) for p in ax.patches if p.get_hatch()]
        [8, 3]
    """
    n = len(num_params)
    if not (len(num_zero_loss) == len(num_deficient) == n) or any(
            extra is not None and len(extra) != n for extra in (num_at_kink, num_deficient_at_kink)):
        raise ValueError("num_params, num_zero_loss, num_deficient (and num_at_kink, num_deficient_at_kink) "
                         "must have the same length.")
    ax = _new_ax(ax, (5.5, 3.5))
    pos = np.arange(n)
    bars = [(num_zero_loss, _COLORS[0], "runs reaching zero loss")]
    if num_at_kink is not None:
        bars.append((num_at_kink, _COLORS[7], "... with an input on a kink"))
    bars.append((num_deficient, _COLORS[3], "... with rank(H) < k"))
    width = 0.8 / len(bars)
    for j, (heights, color, label) in enumerate(bars):
        ax.bar(pos + (j - (len(bars) - 1) / 2) * width, heights, width=width, color=color, label=label)
    if num_deficient_at_kink is not None:                # inside the last (rank-deficient) bar
        ax.bar(pos + (len(bars) - 1) / 2 * width, num_deficient_at_kink, width=width, facecolor=bars[-1][1],
               edgecolor="k", hatch="///", lw=0.8, label="rank(H) < k, with an input on a kink")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xticks(pos, [f"N = {p}" for p in num_params])
    ax.set_ylabel("number of runs")
    entries = len(bars) + (num_deficient_at_kink is not None)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=entries if entries < 4 else 2,
              frameon=False)
    return ax
