r"""Plots for lecture 1 (linear regression as a toy model): loss contours, gradient-descent
trajectories, per-eigendirection errors, and step counts against the condition number.

Every function draws on a matplotlib Axes (``ax=None`` makes a new figure) and returns the Axes,
except :func:`plot_gd_quadratic_2d`, which draws the two-panel figure of the lecture's explorer
and returns the Figure.

References:
    Lecture 1 of this course; G. Goh, *Why Momentum Really Works*, Distill (2017),
    https://distill.pub/2017/momentum/ (the per-eigendirection picture).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import jax.numpy as jnp
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradtools import quadratic as quad

__all__ = [
    "EIGEN_COLORS",
    "RUN_COLORS",
    "PREDICTION_TITLE",
    "eigen_color",
    "drawn_eigen_colors",
    "plot_contours",
    "plot_trajectory",
    "plot_eigenvectors",
    "plot_gd_2d",
    "plot_eigen_errors",
    "plot_eigen_coordinates",
    "plot_loss_curves",
    "plot_steps_vs_condition",
    "rotated_quadratic_2d",
    "plot_gd_quadratic_2d",
]


#: The colour of eigendirection :math:`j` (0-based, eigenvalues sorted from largest to smallest) in
#: every lecture-1 figure and the explorer: the arrow of its eigenvector, its error curve and its
#: coordinate. ``a_1`` is red, ``a_2`` blue, ``a_3`` green; the colours repeat after eight.
EIGEN_COLORS: tuple[str, ...] = (
    "tab:red", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan",
)

#: The colours of the runs in :func:`plot_loss_curves` and :func:`plot_steps_vs_condition`, in turn: none of
#: ``a_1``, ``a_2``, ``a_3``'s (red, blue, green) nor :math:`w_\star`'s orange, so that in lecture 1 a colour
#: named in the text means one thing.
RUN_COLORS: tuple[str, ...] = ("tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink", "tab:gray")


#: The legend title of :func:`plot_eigen_errors` when it draws predictions: what the markers and lines are.
PREDICTION_TITLE = r"markers: GD; lines: $|1-\alpha a_j|^t\,|\tilde w_j(0)-\tilde w_{\star j}|$"


def eigen_color(j: int) -> str:
    """The colour of eigendirection ``j`` (0-based: ``j = 0`` is :math:`a_1`, the largest eigenvalue).

    Every plot of this module draws direction ``j`` in this colour, so a figure's text can name it.

    Example:
        >>> eigen_color(0), eigen_color(1)
        ('tab:red', 'tab:blue')
    """
    if not isinstance(j, (int, np.integer)) or j < 0:
        raise ValueError(f"expected a direction index j >= 0 (0 is a_1, the largest eigenvalue), got {j!r}.")
    return EIGEN_COLORS[int(j) % len(EIGEN_COLORS)]


_GID = re.compile(r"^(eigenvector|eigenvalue|error|prediction|coordinate) a_(\d+)$")


def drawn_eigen_colors(*axes: Axes) -> dict[int, str]:
    """The colour each eigendirection :math:`a_j` is drawn in, read back from the artists of ``axes``.

    Looks at everything this module draws for a direction (the eigenvector arrow and its label, the
    error dots and prediction line, the coordinate curve; they carry a ``gid`` such as
    ``"eigenvector a_1"``), so a notebook can assert that a figure shows what its text says.

    Args:
        *axes: Axes drawn by this module's functions.

    Returns:
        ``{j: colour}`` with ``j`` 1-based (``1`` is :math:`a_1`, the largest eigenvalue) and the colour's
        name in :data:`EIGEN_COLORS` (``"tab:red"``), or its hex code if it is not one of them.

    Raises:
        ValueError: if one direction is drawn in more than one colour.

    Example:
        >>> q = quad.from_spectrum(jnp.array([1.0, 0.1]))
        >>> drawn_eigen_colors(plot_eigenvectors(q))
        {1: 'tab:red', 2: 'tab:blue'}
    """
    found: dict[int, set[str]] = {}
    for ax in axes:
        for artist in [*ax.texts, *ax.lines]:
            m = _GID.match(artist.get_gid() or "")
            if m is None:
                continue
            if m.group(1) == "eigenvector":
                colors = [artist.arrow_patch.get_edgecolor()]
            elif m.group(1) == "eigenvalue":
                colors = [artist.get_color()]
            else:
                colors = [artist.get_color(), artist.get_markerfacecolor(), artist.get_markeredgecolor()]
            colors = [c for c in colors if mcolors.to_rgba(c)[3] > 0]  # an open marker's face ('none') has no colour
            found.setdefault(int(m.group(2)), set()).update(mcolors.to_hex(c) for c in colors)
    names = {mcolors.to_hex(c): c for c in EIGEN_COLORS}
    out = {}
    for j, hexes in sorted(found.items()):
        if len(hexes) != 1:
            raise ValueError(
                f"a_{j} is drawn in {len(hexes)} colours, {sorted(hexes)}; expected one (eigen_color({j - 1}))."
            )
        (h,) = hexes
        out[j] = names.get(h, h)
    return out


def _roundoff_level(ws: np.ndarray, err: np.ndarray) -> float:
    """Errors at or below this are rounding noise of the iterates, not data."""
    eps = np.finfo(ws.dtype if np.issubdtype(ws.dtype, np.floating) else float).eps
    scale = max(float(np.abs(ws[0]).max()), float(np.abs(err[0]).max()), float(np.abs(ws - err).max()))
    return 100.0 * eps * max(scale, np.finfo(float).tiny)


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _check_2d(q: quad.Quadratic, what: str) -> None:
    n = jnp.shape(q.A)[0] if jnp.ndim(q.A) == 2 else None
    if n != 2:
        raise ValueError(
            f"{what} draws a 2-D quadratic (A of shape (2, 2)), got A of shape {jnp.shape(q.A)}. "
            f"Plot a 2-D slice or use plot_eigen_errors, which works in any dimension."
        )


def _check_trajectory(ws: ArrayLike, n: int | None = None) -> np.ndarray:
    ws = np.asarray(ws)
    if ws.ndim != 2 or (n is not None and ws.shape[1] != n):
        want = f"(num_steps + 1, {n})" if n is not None else "(num_steps + 1, n)"
        raise ValueError(
            f"expected a trajectory of shape {want} (rows are iterates, as gd_trajectory returns), "
            f"got shape {ws.shape}."
        )
    return ws


def _basis(q: quad.Quadratic, basis: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Q, a, b_tilde)``: eigenvectors as columns, their eigenvalues and :math:`Q^\top b`.

    Without ``basis``, those of ``jnp.linalg.eigh`` (eigenvalues from largest to smallest). With it, its
    columns, checked to be orthonormal eigenvectors of ``q.A``, with their Rayleigh quotients. A repeated
    eigenvalue has no preferred eigenvectors (every orthonormal basis of its eigenspace is one) and
    ``eigh`` returns an arbitrary one, so a caller that knows the basis it built passes it.
    """
    if basis is None:
        eig = quad.eigenbasis(q)
        return np.asarray(eig.Q), np.asarray(eig.eigvals), np.asarray(eig.b_tilde)
    A = np.asarray(q.A)
    n = A.shape[0]
    Q = np.asarray(basis, dtype=float)
    if Q.shape != (n, n):
        raise ValueError(f"basis must be ({n}, {n}) (eigenvectors as columns), got shape {Q.shape}.")
    if not np.allclose(Q.T @ Q, np.eye(n), atol=1e-8):
        raise ValueError("basis must have orthonormal columns (Q^T Q = I); orthonormalize it, e.g. with jnp.linalg.qr.")
    a = np.einsum("ij,ik,kj->j", Q, A, Q)  # Rayleigh quotients
    scale = max(float(np.abs(A).max()), 1.0)
    if not np.allclose(A @ Q, Q * a, atol=1e-8 * scale):
        raise ValueError("the columns of basis must be eigenvectors of q.A (A q_j = a_j q_j); got other vectors.")
    return Q, a, Q.T @ np.asarray(q.b)


def plot_contours(
    q: quad.Quadratic,
    *,
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int = 15,
    num: int = 121,
    cmap: str = "viridis",
) -> Axes:
    r"""Contour lines of a 2-D quadratic :math:`\mathcal{J}(w)`.

    Level values grow quadratically, so for a convex quadratic the lines are evenly spaced
    ellipses whose axes are the eigenvectors of :math:`A`.

    Args:
        q: a quadratic with ``A`` of shape ``(2, 2)``.
        ax: Axes to draw on (default: a new figure).
        xlim, ylim: the window; default: 3 units around the minimizer.
        levels: number of contour lines.
        num: grid points per axis.
        cmap: matplotlib colormap name.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_contours(quad.from_spectrum(jnp.array([1.0, 0.1])))

    References:
        Lecture 1 of this course.
    """
    _check_2d(q, "plot_contours")
    if levels < 1 or num < 2:
        raise ValueError(f"expected levels >= 1 and num >= 2, got levels={levels}, num={num}.")
    ax = _new_ax(ax)
    center = np.asarray(quad.minimizer(q))
    xlim = xlim or (center[0] - 3.0, center[0] + 3.0)
    ylim = ylim or (center[1] - 3.0, center[1] + 3.0)
    xs, ys = np.linspace(*xlim, num), np.linspace(*ylim, num)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    Z = np.asarray(quad.value(q, jnp.asarray(grid)))
    lo, hi = float(Z.min()), float(Z.max())
    lv = lo + (hi - lo) * np.linspace(0.02, 1.0, levels) ** 2 if hi > lo else levels
    ax.contour(xs, ys, Z, levels=lv, cmap=cmap, linewidths=0.8)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$w_1$")
    ax.set_ylabel(r"$w_2$")
    return ax


def plot_trajectory(
    ws: ArrayLike,
    *,
    ax: Axes | None = None,
    label: str | None = None,
    color: str | None = None,
    marker: str = "o",
    **kwargs,
) -> Axes:
    """A 2-D optimization path: the iterates joined by a line, the start marked with a square.

    Args:
        ws: iterates, ``(num_steps + 1, 2)`` (e.g. from ``gt.quadratic.gd_trajectory``).
        ax: Axes to draw on (default: a new figure).
        label: legend label.
        color: line color (default: the next color of the cycle).
        marker: marker of the iterates.
        **kwargs: passed to ``Axes.plot``.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_trajectory(jnp.array([[0.0, 0.0], [1.0, 0.5], [1.5, 0.6]]), label="GD")

    References:
        Lecture 1 of this course.
    """
    ws = _check_trajectory(ws, 2)
    ax = _new_ax(ax)
    (line,) = ax.plot(ws[:, 0], ws[:, 1], marker=marker, ms=3, lw=1.2, color=color, label=label, **kwargs)
    ax.plot(ws[0, 0], ws[0, 1], "s", color=line.get_color(), ms=6)
    return ax


def plot_eigenvectors(
    q: quad.Quadratic, *, ax: Axes | None = None, length: float = 1.5, basis: ArrayLike | None = None,
) -> Axes:
    r"""Arrows along the eigenvectors of a 2-D quadratic, from its minimizer, labelled with :math:`a_j`.

    The arrow of :math:`a_1` (the larger eigenvalue) is drawn in ``eigen_color(0)`` (red), that of
    :math:`a_2` in ``eigen_color(1)`` (blue). Each label has its arrow's colour and sits beside the
    middle of its arrow, on the side away from the other one. When the Axes already has a fixed
    window (as after :func:`plot_contours`), each eigenvector is drawn with the sign that points
    into the window.

    Args:
        q: a quadratic with ``A`` of shape ``(2, 2)``.
        ax: Axes to draw on (default: a new figure).
        length: arrow length in plot units.
        basis: the orthonormal eigenvectors to draw, as the columns of a ``(2, 2)`` matrix, column ``j``
            for :math:`a_{j+1}` (default: those of ``jnp.linalg.eigh``, largest eigenvalue first). Pass
            it when the eigenvalues are equal: then every direction is an eigenvector, and ``eigh``
            returns the coordinate axes whatever basis the quadratic was built in.

    Returns:
        The Axes.

    Raises:
        ValueError: if ``basis`` is not orthonormal or its columns are not eigenvectors of ``q.A``.

    Example:
        >>> ax = plot_eigenvectors(quad.from_spectrum(jnp.array([1.0, 0.1])))

    References:
        Lecture 1 of this course.
    """
    _check_2d(q, "plot_eigenvectors")
    Q, a, _ = _basis(q, basis)
    ax = _new_ax(ax)
    w_star = np.asarray(quad.minimizer(q))
    if not (ax.get_autoscalex_on() or ax.get_autoscaley_on()):
        # a window is set: of the two signs of each eigenvector, draw the one pointing into it
        toward = np.array([np.mean(ax.get_xlim()), np.mean(ax.get_ylim())]) - w_star
        Q = Q * np.where(toward @ Q < 0, -1.0, 1.0)
    for j in range(2):
        color = eigen_color(j)
        v = length * Q[:, j]
        ax.annotate(
            "", xy=w_star + v, xytext=w_star, arrowprops=dict(arrowstyle="->", color=color, lw=1.8),
            gid=f"eigenvector a_{j + 1}",
        )
        # the label sits beside the middle of its shaft, on the side away from the other arrow: it stays in
        # the window whenever the arrow does, and covers neither arrow
        away = -Q[:, 1 - j]
        ax.annotate(
            f"$a_{j + 1}={float(a[j]):.3g}$", xy=w_star + 0.55 * v, xytext=5 * away,
            textcoords="offset points", color=color, fontsize=9, gid=f"eigenvalue a_{j + 1}", zorder=4,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),  # readable over a path
            ha="left" if away[0] > 0.3 else "right" if away[0] < -0.3 else "center",
            va="bottom" if away[1] > 0.3 else "top" if away[1] < -0.3 else "center",
        )
    return ax


def plot_gd_2d(
    q: quad.Quadratic,
    ws: ArrayLike,
    *,
    ax: Axes | None = None,
    label: str | None = None,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    basis: ArrayLike | None = None,
) -> Axes:
    """Contours, eigenvectors, minimizer (star) and a gradient-descent path of a 2-D quadratic.

    Points outside the window (a diverging run) leave the picture; the window stays fixed.

    Args:
        q: a quadratic with ``A`` of shape ``(2, 2)``.
        ws: iterates ``(num_steps + 1, 2)``.
        ax: Axes to draw on (default: a new figure).
        label: legend label of the path.
        xlim, ylim: the window (default: around the minimizer and the start).
        basis: the eigenvectors to draw (see :func:`plot_eigenvectors`).

    Returns:
        The Axes.

    Example:
        >>> q = quad.from_spectrum(jnp.array([1.0, 0.1]))
        >>> ax = plot_gd_2d(q, quad.gd_trajectory(q, jnp.array([2.0, 2.0]), 1.0, 20))

    References:
        Lecture 1 of this course.
    """
    _check_2d(q, "plot_gd_2d")
    ws = _check_trajectory(ws, 2)
    ax = _new_ax(ax)
    w_star = np.asarray(quad.minimizer(q))
    if xlim is None or ylim is None:
        r = 1.25 * max(float(np.max(np.abs(ws[0] - w_star))), 1.0)
        xlim = xlim or (w_star[0] - r, w_star[0] + r)
        ylim = ylim or (w_star[1] - r, w_star[1] + r)
    plot_contours(q, ax=ax, xlim=xlim, ylim=ylim)
    plot_eigenvectors(q, ax=ax, length=0.35 * (xlim[1] - xlim[0]), basis=basis)
    plot_trajectory(ws, ax=ax, label=label, color="k")
    ax.plot(*w_star, "*", color="tab:orange", ms=12, label=r"$w_\star$")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return ax


def plot_eigen_errors(
    q: quad.Quadratic,
    ws: ArrayLike,
    lr: float | None = None,
    *,
    ax: Axes | None = None,
    basis: ArrayLike | None = None,
) -> Axes:
    r"""Per-eigendirection error :math:`|\tilde w_j(t) - \tilde w_{\star j}|` against the step, log scale.

    Markers are the measured errors of the iterates ``ws``; with ``lr`` given, a dashed line of the same
    colour is the prediction :math:`|1 - \alpha a_j|^t\, |\tilde w_j(0) - \tilde w_{\star j}|` (the
    markers sit on it when the prediction holds). Direction :math:`j` has colour ``eigen_color(j - 1)``,
    as its arrow in :func:`plot_eigenvectors`; :math:`a_1`'s markers are open rings and the others'
    small filled dots, so two directions with the same errors (equal eigenvalues) both stay visible,
    a dot inside a ring. Errors at rounding level (100 machine epsilons of the
    iterates' scale) are not drawn: a direction solved exactly stops there. Directions with
    :math:`a_j \le 0` (no minimum along them) are skipped.

    Args:
        q: the quadratic (any dimension).
        ws: iterates ``(num_steps + 1, n)``.
        lr: the learning rate that produced ``ws``, for the predictions.
        ax: Axes to draw on (default: a new figure).
        basis: the orthonormal eigenvectors to measure the errors along, as the columns of an
            ``(n, n)`` matrix (default: those of ``jnp.linalg.eigh``, largest eigenvalue first); see
            :func:`plot_eigenvectors`.

    Returns:
        The Axes. Its lines are, per drawn direction, the measured markers (labelled
        ``$a_{j}=...$``) then, with ``lr``, the prediction (labelled ``_prediction a_j``).

    Example:
        >>> q = quad.from_spectrum(jnp.array([1.0, 0.1]))
        >>> ax = plot_eigen_errors(q, quad.gd_trajectory(q, jnp.ones(2), 1.0, 30), lr=1.0)

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    n = jnp.shape(q.A)[0]
    ws = _check_trajectory(ws, n)
    Q, a, _ = _basis(q, basis)
    ax = _new_ax(ax)
    err = (ws - np.asarray(quad.minimizer(q))) @ Q
    t = np.arange(ws.shape[0])
    cut = _roundoff_level(ws, err)
    positive = a > n * np.finfo(a.dtype).eps * np.abs(a).max()
    for j in np.flatnonzero(positive):
        color = eigen_color(int(j))
        measured = np.abs(err[:, j])
        ring = dict(ms=7, mfc="none", mew=1.3) if j == 0 else dict(ms=3.5)  # a dot inside a ring if they coincide
        ax.plot(t, np.where(measured > cut, measured, np.nan), "o", color=color, **ring,
                label=f"$a_{{{j + 1}}}={a[j]:.3g}$", gid=f"error a_{j + 1}")
        if lr is not None:
            with np.errstate(over="ignore", under="ignore"):
                pred = np.abs(1.0 - lr * a[j]) ** t * abs(err[0, j])
            # dashed, over the dots: where the prediction is right the dots would hide a solid line
            ax.plot(t, np.where(pred > cut, pred, np.nan), "--", color=color, lw=1.0, zorder=3,
                    label=f"_prediction a_{j + 1}", gid=f"prediction a_{j + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$|\tilde w_j(t) - \tilde w_{\star j}|$")
    title = PREDICTION_TITLE if lr is not None else None
    ax.legend(fontsize=8, title=title, title_fontsize=8)
    return ax


def plot_eigen_coordinates(
    q: quad.Quadratic,
    ws: ArrayLike,
    *,
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    basis: ArrayLike | None = None,
) -> Axes:
    r"""The eigenbasis coordinates :math:`\tilde w_j(t) = q_j^\top w_t` against the step (linear scale).

    Shows the three behaviours of lecture 1 side by side: geometric convergence (:math:`a_j > 0`),
    linear drift (:math:`a_j = 0,\ \tilde b_j \neq 0`), and no motion (:math:`a_j = 0 = \tilde b_j`).
    Coordinate :math:`j` has colour ``eigen_color(j - 1)``.

    Args:
        q: the quadratic (any dimension).
        ws: iterates ``(num_steps + 1, n)``.
        ax: Axes to draw on (default: a new figure).
        labels: one legend label per coordinate (default: the eigenvalue and :math:`\tilde b_j`).
        basis: the orthonormal eigenvectors to use, as the columns of an ``(n, n)`` matrix (default:
            those of ``jnp.linalg.eigh``). Pass it when an eigenvalue is repeated: the eigenvectors
            of a repeated eigenvalue are any orthonormal basis of its eigenspace, and ``eigh``
            returns an arbitrary one, which mixes the coordinates a text talks about.

    Returns:
        The Axes.

    Raises:
        ValueError: if ``basis`` is not orthonormal or its columns are not eigenvectors of ``q.A``.

    Example:
        >>> q = quad.Quadratic(jnp.diag(jnp.array([1.0, 0.0])), jnp.array([-1.0, 0.5]), jnp.array(0.0))
        >>> ax = plot_eigen_coordinates(q, quad.gd_trajectory(q, jnp.zeros(2), 0.5, 20))
        >>> ax = plot_eigen_coordinates(q, quad.gd_trajectory(q, jnp.zeros(2), 0.5, 20), basis=jnp.eye(2))

    References:
        Lecture 1 of this course.
    """
    eig = quad.eigenbasis(q)
    n = eig.eigvals.shape[0]
    ws = _check_trajectory(ws, n)
    if labels is not None and len(labels) != n:
        raise ValueError(f"expected {n} labels, one per coordinate, got {len(labels)}.")
    Q, a, b_tilde = _basis(q, basis)
    ax = _new_ax(ax)
    coords = ws @ Q
    t = np.arange(ws.shape[0])
    for j in range(n):
        lab = labels[j] if labels is not None else (
            rf"$a_{{{j + 1}}}={float(a[j]):.2g},\ \tilde b_{{{j + 1}}}={float(b_tilde[j]):.2g}$"
        )
        ax.plot(t, coords[:, j], lw=1.5, color=eigen_color(j), label=lab, gid=f"coordinate a_{j + 1}")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(r"$\tilde w_j(t)$")
    ax.legend(fontsize=8)
    return ax


def plot_loss_curves(
    curves: Mapping[str, ArrayLike],
    *,
    ax: Axes | None = None,
    logy: bool = True,
    ylabel: str = r"$\mathcal{J}(w_t) - \mathcal{J}_\star$",
    floor: float = 1e-13,
) -> Axes:
    """One curve per run (e.g. loss minus its minimum) against the step, in the colours :data:`RUN_COLORS`.

    Args:
        curves: ``{label: values (num_steps + 1,)}``.
        ax: Axes to draw on (default: a new figure).
        logy: logarithmic y axis. Values at or below round-off, ``floor`` times the largest
            absolute value of the curve's first entry, are not drawn (the curve stops there)
            rather than clipped, so the axis shows the data, not 300 decades of rounding noise.
        floor: relative level, see ``logy``.
        ylabel: y-axis label.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_loss_curves({"a": jnp.array([1.0, 0.5, 0.25])})

    References:
        Lecture 1 of this course.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"curves must be a non-empty mapping label -> values, got {type(curves).__name__}.")
    ax = _new_ax(ax)
    for i, (label, vals) in enumerate(curves.items()):
        vals = np.asarray(vals)
        if vals.ndim != 1:
            raise ValueError(f"curve {label!r} must be 1-D (one value per step), got shape {vals.shape}.")
        if logy:
            cut = floor * max(abs(float(vals[0])), np.finfo(float).tiny)
            vals = np.where(vals > cut, vals, np.nan)  # round-off (or <= 0): not drawn
        ax.plot(np.arange(vals.shape[0]), vals, label=label, color=RUN_COLORS[i % len(RUN_COLORS)])
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step $t$")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def plot_steps_vs_condition(
    kappas: ArrayLike,
    measured: Mapping[str, ArrayLike],
    predicted: Mapping[str, ArrayLike] | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    r"""Steps to reach a tolerance against the condition number :math:`\kappa`, log-log.

    Measured counts are markers, predictions (e.g. :math:`\lceil\ln\epsilon/\ln\rho\rceil`) lines of
    the same color, one of :data:`RUN_COLORS` per label; a slope of one means "steps grow like :math:`\kappa`".

    Args:
        kappas: condition numbers, ``(k,)``.
        measured: ``{label: steps (k,)}``.
        predicted: ``{label: steps (k,)}``, same labels as ``measured`` (optional).
        ax: Axes to draw on (default: a new figure).

    Returns:
        The Axes.

    Example:
        >>> ax = plot_steps_vs_condition(jnp.array([1.0, 10.0]), {"GD": jnp.array([5, 50])})

    References:
        Lecture 1 of this course.
    """
    kappas = np.asarray(kappas)
    if kappas.ndim != 1:
        raise ValueError(f"kappas must be 1-D, got shape {kappas.shape}.")
    predicted = predicted or {}
    ax = _new_ax(ax)
    for i, (label, steps) in enumerate(measured.items()):
        steps = np.asarray(steps)
        if steps.shape != kappas.shape:
            raise ValueError(f"measured[{label!r}] must have shape {kappas.shape} like kappas, got {steps.shape}.")
        (pts,) = ax.plot(kappas, steps, "o", label=f"{label}: measured", color=RUN_COLORS[i % len(RUN_COLORS)])
        if label in predicted:
            pred = np.asarray(predicted[label])
            if pred.shape != kappas.shape:
                raise ValueError(
                    f"predicted[{label!r}] must have shape {kappas.shape} like kappas, got {pred.shape}."
                )
            ax.plot(kappas, pred, "-", color=pts.get_color(), label=f"{label}: predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"condition number $\kappa = \lambda_{\max}/\lambda_{\min}$")
    ax.set_ylabel("steps to tolerance")
    ax.legend(fontsize=8)
    return ax


def rotated_quadratic_2d(kappa: float, angle: float = np.pi / 6, lam_max: float = 1.0) -> quad.Quadratic:
    r"""The explorer's 2-D quadratic: eigenvalues :math:`\lambda_{\max}` and :math:`\lambda_{\max}/\kappa`,
    eigenvectors rotated by ``angle``, minimizer at the origin, minimum 0.

    Args:
        kappa: condition number, ``>= 1``.
        angle: rotation of the eigenvectors from the axes, radians.
        lam_max: the largest eigenvalue.

    Returns:
        ``gt.quadratic.Quadratic``.

    Example:
        >>> round(float(quad.condition_number(rotated_quadratic_2d(10.0))), 6)
        10.0

    References:
        Lecture 1 of this course.
    """
    if not kappa >= 1:
        raise ValueError(f"kappa must be >= 1 (lambda_max / lambda_min), got {kappa}.")
    if not lam_max > 0:
        raise ValueError(f"lam_max must be positive, got {lam_max}.")
    c, s = np.cos(angle), np.sin(angle)
    Q = jnp.array([[c, -s], [s, c]])
    return quad.from_spectrum(jnp.array([lam_max, lam_max / kappa]), Q)


def plot_gd_quadratic_2d(
    lr: float,
    kappa: float,
    *,
    num_steps: int = 40,
    angle: float = np.pi / 6,
    w0: Sequence[float] = (-2.0, 2.0),
    fig: Figure | None = None,
) -> Figure:
    r"""The explorer's picture: gradient descent on a 2-D quadratic of condition number ``kappa``.

    Left: the path over the loss contours, with the eigenvectors (those the quadratic was built
    with, rotated by ``angle``, also at ``kappa = 1`` where every direction is one). Right: the error
    along each eigendirection against the step on a log scale (markers), with the predictions
    :math:`|1-\alpha a_j|^t\,|\tilde w_j(0) - \tilde w_{\star j}|` as dashed lines of the same colour.
    The title compares ``lr`` with the stability threshold :math:`2/\lambda_{\max} = 2`.

    Args:
        lr: learning rate :math:`\alpha`.
        kappa: condition number (:math:`\lambda_{\max} = 1`, :math:`\lambda_{\min} = 1/\kappa`).
        num_steps: gradient-descent steps.
        angle: rotation of the eigenvectors, radians.
        w0: the start.
        fig: figure to draw on (cleared first); default: a new one.

    Returns:
        The Figure, with two Axes.

    Example:
        >>> fig = plot_gd_quadratic_2d(1.0, 10.0)

    References:
        Lecture 1 of this course; Goh, *Why Momentum Really Works*, Distill (2017).
    """
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    q = rotated_quadratic_2d(kappa, angle)
    c, s = np.cos(angle), np.sin(angle)
    basis = np.array([[c, -s], [s, c]])  # the eigenvectors q was built with (a_1 first)
    ws = quad.gd_trajectory(q, jnp.asarray(w0, dtype=q.A.dtype), lr, num_steps)
    if fig is None:
        fig = plt.figure(figsize=(10, 4.2))
    else:
        fig.clear()
    ax1, ax2 = fig.subplots(1, 2)
    r = 1.25 * float(np.max(np.abs(np.asarray(w0))))
    plot_gd_2d(q, ws, ax=ax1, xlim=(-r, r), ylim=(-r, r), basis=basis)
    plot_eigen_errors(q, ws, lr, ax=ax2, basis=basis)
    ax2.set_xlim(-0.02 * num_steps, 1.02 * num_steps)  # the steps drawn, even when a direction stops at once
    thr = float(quad.stability_threshold(q))
    verdict = "stable" if lr < thr else "unstable"
    rho = float(quad.contraction_factor(q, lr))
    ax1.set_title(rf"$\alpha={lr:.3g}$, $2/\lambda_{{\max}}={thr:.3g}$: {verdict}", fontsize=10)
    ax2.set_title(rf"$\kappa={kappa:.3g}$, worst factor $\mathrm{{max}}_j|1-\alpha a_j|={rho:.3g}$", fontsize=10)
    fig.tight_layout()
    return fig
