r"""Plots for lecture 5 (the Rashomon manifold and mode connectivity).

- :func:`plot_rashomon_quadratic`: the Rashomon set :math:`\{L \le \varepsilon\}` of
  :math:`L = a x^2 + b y^2` on :math:`\mathbb R^3` (an elliptic cylinder around the :math:`z`-axis)
  and its slice, with the Hessian's eigenvectors as the ellipse's axes;
- :func:`plot_path_metrics`: loss and test error along several paths between two networks;
- :func:`plot_plane`: loss contours over the plane through :math:`w_0, \theta, w_1` with the paths
  projected onto it (Garipov et al.'s figure);
- :func:`plot_spectrum`: a stochastic-Lanczos density against the histogram of exact eigenvalues;
- :func:`plot_near_zero_counts`: how the count of "zero" eigenvalues depends on the threshold;
- :func:`plot_hvp_norms`: Hessian-vector-product norms along named directions, against ``t``;
- :func:`plot_digit_decisions`: a few input images with the labels several networks give them.

Every function draws on a matplotlib Axes (``ax=None`` makes a new figure) and returns it, except
the multi-panel ones (:func:`plot_rashomon_quadratic`, :func:`plot_path_metrics`,
:func:`plot_digit_decisions`), which return the Figure.

One object keeps one colour in every figure of the lecture and in its explorer:
:data:`CONNECTIVITY_COLORS` maps each named object (the straight line and its direction, the Bezier
curve and its tangent, the aligned line, ...) to its colour, and :func:`connectivity_color` gives
it (names not in the table get colours the table does not use). Red (``WRONG_COLOR``) is kept for
wrong decisions.

References:
    Lecture 5 of this course; T. Garipov et al., *Loss surfaces, mode connectivity, and fast
    ensembling of DNNs* (2018), https://arxiv.org/abs/1802.10026; L. Sagun et al., *Empirical
    analysis of the Hessian of over-parametrized neural networks* (2017),
    https://arxiv.org/abs/1706.04454.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib import patheffects
from matplotlib.patches import Ellipse

__all__ = [
    "CONNECTIVITY_COLORS",
    "WRONG_COLOR",
    "connectivity_color",
    "plot_rashomon_quadratic",
    "plot_path_metrics",
    "plot_plane",
    "plot_spectrum",
    "plot_near_zero_counts",
    "plot_hvp_norms",
    "plot_digit_decisions",
]

#: The colour of each object drawn in lecture 5 and its explorer (one colour per object).
CONNECTIVITY_COLORS: dict[str, str] = {
    "straight line": "C0",
    "line direction u": "C0",  # the straight line's direction: the line's colour
    "Bezier curve": "C1",
    "tangent": "C1",  # the curve's tangent: the curve's colour
    "aligned straight line": "C2",
    "detour direction v": "C4",
    "random direction": "0.5",
    "SLQ density": "C5",  # the Hessian spectrum at the curve's midpoint
    "near-zero eigenvalues": "C5",  # the same spectrum, counted
    "dense eigh, same smoothing": "k",
    "Rashomon set": "C9",
    "Hessian axis 1": "C6",
    "Hessian axis 2": "C8",
    "point": "k",
}
#: Wrong decisions (digit titles, the explorer).
WRONG_COLOR = "C3"
_SPARE = ("C7", "C6", "C8", "C5", "C9", "C4")


def connectivity_color(name: str, taken: Sequence[str] = ()) -> str:
    """The colour of a named object: :data:`CONNECTIVITY_COLORS` if listed, else a spare colour not in ``taken``.

    Example:
        >>> connectivity_color("Bezier curve"), connectivity_color("something else")
        ('C1', 'C7')
    """
    if name in CONNECTIVITY_COLORS:
        return CONNECTIVITY_COLORS[name]
    for c in _SPARE:
        if c not in taken:
            return c
    return _SPARE[0]


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _vec(x: ArrayLike, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = f"({n},)" if n is not None else "(K,)"
        raise ValueError(f"{name} must be 1-D of shape {want}, got shape {a.shape}.")
    return a


def plot_rashomon_quadratic(
    hessian_2x2: ArrayLike = ((6.0, 0.0), (0.0, 10.0)),
    eps: float = 0.5,
    point: Sequence[float] = (0.0, 0.0, 1.7),
    *,
    zlim: tuple[float, float] = (-1.0, 3.0),
) -> Figure:
    r"""The Rashomon set of :math:`L(x, y, z) = \tfrac12 (x, y) H (x, y)^\top` (no :math:`z`) and its slice.

    Left: the boundary :math:`L^{-1}(\varepsilon)` of the Rashomon set :math:`L^{-1}([0,
    \varepsilon])`, an elliptic cylinder (hollow), around the Rashomon manifold :math:`L^{-1}(0)`,
    the :math:`z`-axis, with the point ``point`` on it. Right: the slice :math:`z =` ``point[2]``:
    the filled ellipse :math:`\tfrac12 d^\top H d \le \varepsilon` with semi-axes
    :math:`\sqrt{2\varepsilon/\lambda_i}` along the eigenvectors :math:`u_i` of :math:`H`, drawn as
    arrows. For :math:`L = 3x^2 + 5y^2`, :math:`H = \operatorname{diag}(6, 10)`.

    Args:
        hessian_2x2: the symmetric positive definite :math:`2\times 2` block :math:`H`.
        eps: :math:`\varepsilon > 0`.
        point: a point of the manifold, ``(0, 0, z)``.
        zlim: the range of :math:`z` drawn.

    Returns:
        The Figure (a 3-D Axes and a 2-D Axes); the right Axes holds one ``Ellipse`` patch.

    Example:
        >>> fig = plot_rashomon_quadratic()
        >>> round(float(fig.axes[1].patches[0].width), 4)      # 2 * sqrt(2 * 0.5 / 6)
        0.8165
    """
    H = np.asarray(hessian_2x2, dtype=float)
    if H.shape != (2, 2) or not np.allclose(H, H.T):
        raise ValueError(f"hessian_2x2 must be a symmetric 2x2 matrix, got shape {H.shape}.")
    lam, U = np.linalg.eigh(H)
    if not np.all(lam > 0):
        raise ValueError(f"hessian_2x2 must be positive definite, got eigenvalues {lam.tolist()}.")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    point = _vec(point, "point", 3)
    semi = np.sqrt(2 * eps / lam)

    fig = plt.figure(figsize=(10, 4.2))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    phi = np.linspace(0, 2 * np.pi, 60)
    zs = np.linspace(*zlim, 12)
    P, Z = np.meshgrid(phi, zs)
    ring = U @ np.stack([semi[0] * np.cos(phi), semi[1] * np.sin(phi)])  # (2, 60)
    X = np.broadcast_to(ring[0], P.shape)
    Y = np.broadcast_to(ring[1], P.shape)
    ax3.plot_surface(X, Y, Z, alpha=0.25, color=CONNECTIVITY_COLORS["Rashomon set"], linewidth=0)
    ax3.plot([0, 0], [0, 0], zlim, color="k", lw=2, label=r"manifold $L^{-1}(0)$: the $z$-axis")
    ax3.scatter([point[0]], [point[1]], [point[2]], color=CONNECTIVITY_COLORS["point"], s=30, label=f"p = {tuple(float(v) for v in point)}")
    ax3.set_xlabel("x")
    ax3.set_ylabel("y")
    ax3.set_zlabel("z")
    ax3.set_title(rf"boundary $L^{{-1}}({eps:g})$ of the Rashomon set")
    ax3.legend(loc="upper left", fontsize=8)

    ax = fig.add_subplot(1, 2, 2)
    angle = float(np.degrees(np.arctan2(U[1, 0], U[0, 0])))
    ax.add_patch(Ellipse((0, 0), 2 * semi[0], 2 * semi[1], angle=angle, alpha=0.3, color=CONNECTIVITY_COLORS["Rashomon set"],
                         label=rf"$L \leq {eps:g}$ at $z = {point[2]:g}$"))
    for i in range(2):
        d = semi[i] * U[:, i]
        c = CONNECTIVITY_COLORS[f"Hessian axis {i + 1}"]
        ax.annotate("", xy=d, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=c, lw=2))
        ax.plot([], [], color=c, label=rf"$\lambda = {lam[i]:g}$: semi-axis $\sqrt{{2\varepsilon/\lambda}}$ = {semi[i]:.3g}")
    ax.plot([0], [0], "o", color=CONNECTIVITY_COLORS["point"])
    r = 1.3 * semi.max()
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("slice: Hessian eigenvectors are the ellipse's axes")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_path_metrics(
    ts: ArrayLike,
    losses: Mapping[str, ArrayLike],
    errors: Mapping[str, ArrayLike],
    *,
    loss_label: str = "training loss",
    error_label: str = "test error (%)",
) -> Figure:
    """Loss (log scale) and error (in percent) against ``t`` for several paths, side by side.

    Each path is drawn in its colour (:func:`connectivity_color`), the same in every call.

    Args:
        ts: the curve parameters, shape ``(K,)``.
        losses: path name -> losses, shape ``(K,)`` each.
        errors: path name -> error rates in [0, 1], shape ``(K,)`` each (same names).
        loss_label, error_label: the panels' y labels.

    Returns:
        The Figure with two Axes; each holds one line per path, labelled with the path's name.

    Example:
        >>> fig = plot_path_metrics([0, 0.5, 1], {"line": [1e-3, 0.3, 1e-3]}, {"line": [0.02, 0.1, 0.03]})
        >>> [ln.get_label() for ln in fig.axes[0].lines]
        ['line']
    """
    ts = _vec(ts, "ts")
    if set(losses) != set(errors) or not losses:
        raise ValueError(f"losses and errors must name the same paths, got {sorted(losses)} and {sorted(errors)}.")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    taken: list[str] = []
    for name in losses:
        c = connectivity_color(name, taken)
        taken.append(c)
        a1.semilogy(ts, _vec(losses[name], f"losses[{name!r}]", len(ts)), "-o", ms=3, color=c, label=name)
        a2.plot(ts, 100 * _vec(errors[name], f"errors[{name!r}]", len(ts)), "-o", ms=3, color=c, label=name)
    a1.set_xlabel("t")
    a1.set_ylabel(loss_label)
    a2.set_xlabel("t")
    a2.set_ylabel(error_label)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_plane(
    a_grid: ArrayLike,
    b_grid: ArrayLike,
    values: ArrayLike,
    *,
    points: Mapping[str, ArrayLike] | None = None,
    paths: Mapping[str, ArrayLike] | None = None,
    ax: Axes | None = None,
    levels: int = 20,
    label: str = r"$\log_{10}$ training loss",
) -> Axes:
    r"""Filled contours of :math:`\log_{10}` ``values`` over a plane, with points and paths on it.

    ``values[i, j]`` is at ``(a_grid[j], b_grid[i])`` (as :func:`gradtools.connectivity.plane_losses`
    returns). Points and paths are given in the same plane coordinates
    (:func:`gradtools.connectivity.plane_coords`).

    Args:
        a_grid, b_grid: 1-D grids of the two coordinates.
        values: positive values, shape ``(len(b_grid), len(a_grid))``.
        points: name -> ``(2,)`` coordinates, drawn as labelled markers.
        paths: name -> ``(K, 2)`` coordinates, drawn as lines in their colours
            (:func:`connectivity_color`), outlined in white so that they show on the contours.
        ax: Axes to draw on.
        levels: number of contour levels.
        label: the colorbar's label.

    Returns:
        The Axes.

    Example:
        >>> import numpy as np
        >>> a = np.linspace(-1, 1, 5)
        >>> ax = plot_plane(a, a, 1 + a[:, None] ** 2 + a[None] ** 2, points={"w0": [0, 0]})
        >>> [t.get_text() for t in ax.texts]
        ['w0']
    """
    a, b = _vec(a_grid, "a_grid"), _vec(b_grid, "b_grid")
    v = np.asarray(values, dtype=float)
    if v.shape != (len(b), len(a)):
        raise ValueError(f"values must have shape (len(b_grid), len(a_grid)) = {(len(b), len(a))}, got {v.shape}.")
    if not np.all(v > 0):
        raise ValueError("values must be positive (they are drawn on a log scale).")
    ax = _new_ax(ax, (6.0, 4.6))
    cs = ax.contourf(a, b, np.log10(v), levels=levels, cmap="viridis")
    ax.figure.colorbar(cs, ax=ax, label=label)
    taken: list[str] = []
    for name, p in (paths or {}).items():
        p = np.asarray(p, dtype=float)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"paths[{name!r}] must have shape (K, 2), got {p.shape}.")
        c = connectivity_color(name, taken)
        taken.append(c)
        ax.plot(p[:, 0], p[:, 1], "-", color=c, lw=2.8, label=name,
                path_effects=[patheffects.Stroke(linewidth=4.4, foreground="w"), patheffects.Normal()])
    for name, p in (points or {}).items():
        p = _vec(p, f"points[{name!r}]", 2)
        ax.plot(p[0], p[1], "o", color="w", mec="k")
        ax.text(p[0], p[1], name, color="w", fontsize=11, ha="left", va="bottom")
    if paths:
        ax.legend(loc="lower left", fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$a$ (along $w_1 - w_0$)")
    ax.set_ylabel(r"$b$ (towards $\theta$)")
    return ax


def plot_spectrum(
    grid: ArrayLike,
    density: ArrayLike,
    eigvals: ArrayLike | None = None,
    *,
    reference: ArrayLike | None = None,
    ax: Axes | None = None,
    bins: int = 80,
) -> Axes:
    """A spectral density estimate (line), optionally over a reference density or a histogram, log y axis.

    To compare an estimate with the exact eigenvalues, pass ``reference``: the exact eigenvalues
    smoothed exactly as the estimate is (the curve a check compares with), drawn as a dashed line
    on the same grid. ``eigvals`` draws a histogram of raw eigenvalues instead (a different
    object: its bars depend on the bins, not on the smoothing).

    Args:
        grid, density: the estimate, e.g. from :func:`gradtools.slq_density`, shapes ``(G,)``.
        eigvals: exact eigenvalues for a histogram, optional.
        reference: a density on ``grid`` to compare with, shape ``(G,)``, optional.
        ax: Axes to draw on.
        bins: histogram bins.

    Returns:
        The Axes.

    Example:
        >>> import numpy as np
        >>> g = np.linspace(-1, 2, 50)
        >>> ax = plot_spectrum(g, np.exp(-g**2), reference=np.exp(-g**2))
        >>> [ln.get_label() for ln in ax.lines]
        ['dense eigh, same smoothing', 'SLQ density']
    """
    g = _vec(grid, "grid")
    d = _vec(density, "density", len(g))
    ax = _new_ax(ax, (6.0, 3.6))
    if eigvals is not None:
        ev = _vec(eigvals, "eigvals")
        ax.hist(ev, bins=np.linspace(g.min(), g.max(), bins), density=True, color="0.7", label="dense eigh (histogram)")
    if reference is not None:
        r = _vec(reference, "reference", len(g))
        ax.plot(g, np.maximum(r, 1e-12), "--", lw=2.5, color=CONNECTIVITY_COLORS["dense eigh, same smoothing"],
                label="dense eigh, same smoothing")
    ax.plot(g, np.maximum(d, 1e-12), color=CONNECTIVITY_COLORS["SLQ density"], label="SLQ density")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(1e-3, float(np.max(d)) * 1e-6))
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_near_zero_counts(
    eigvals: ArrayLike,
    rtols: ArrayLike,
    *,
    floor: int | None = None,
    floor_label: str = "exact null directions",
    roundoff: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    r"""The number of eigenvalues with :math:`|\lambda| \le \mathrm{rtol}\,\max|\lambda|` against ``rtol`` (log-log).

    Args:
        eigvals: all eigenvalues, shape ``(n,)``.
        rtols: thresholds, shape ``(R,)``, positive.
        floor: optional count to mark as a horizontal line (e.g. the directions known to be null).
        floor_label: its legend text (the count is appended).
        roundoff: optional threshold to mark as a vertical line: the relative size of round-off
            (the dtype's epsilon), below which an eigenvalue cannot be told from zero.
        ax: Axes to draw on.

    Returns:
        The Axes; its first line holds ``(rtols, counts)``.

    Example:
        >>> ax = plot_near_zero_counts([1.0, 1e-3, 1e-9], [1e-6, 1e-2])
        >>> ax.lines[0].get_ydata().tolist()
        [1.0, 2.0]
    """
    ev = np.abs(_vec(eigvals, "eigvals"))
    r = _vec(rtols, "rtols")
    if not np.all(r > 0):
        raise ValueError("rtols must be positive (drawn on a log axis).")
    counts = np.array([np.sum(ev <= ri * ev.max()) for ri in r], dtype=float)
    ax = _new_ax(ax, (5.5, 3.6))
    ax.semilogx(r, counts, "-o", ms=3, color=CONNECTIVITY_COLORS["near-zero eigenvalues"], label="near-zero eigenvalues")
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", label=f"{floor_label}: {floor}")
    ax.axhline(len(ev), color="0.5", ls=":", label=f"all n = {len(ev)}")
    if roundoff is not None:
        ax.axvline(roundoff, color="0.3", ls="-.", lw=1, label=f"round-off: rtol = {roundoff:.2g}")
    ax.set_yscale("log", nonpositive="clip")
    ax.set_xlabel(r"relative threshold rtol: $|\lambda| \leq$ rtol $\cdot\,\lambda_{\max}$")
    ax.set_ylabel("count (log scale)")
    ax.legend(fontsize=8)
    return ax


def plot_hvp_norms(ts: ArrayLike, norms: Mapping[str, ArrayLike], *, ax: Axes | None = None) -> Axes:
    r"""Norms :math:`\|H(t)\,\hat d\|` along named unit directions against ``t`` (log y).

    Each direction is drawn in its colour (:func:`connectivity_color`): the line's direction in the
    straight line's colour, the tangent in the curve's.

    Args:
        ts: curve parameters, shape ``(K,)``.
        norms: direction name -> norms, shape ``(K,)``.
        ax: Axes to draw on.

    Returns:
        The Axes, one labelled line per direction.

    Example:
        >>> ax = plot_hvp_norms([0.2, 0.5], {"tangent": [1e-4, 2e-4]})
        >>> [ln.get_label() for ln in ax.lines]
        ['tangent']
    """
    ts = _vec(ts, "ts")
    ax = _new_ax(ax, (5.5, 3.6))
    taken: list[str] = []
    for name, v in norms.items():
        c = connectivity_color(name, taken)
        taken.append(c)
        ax.semilogy(ts, _vec(v, f"norms[{name!r}]", len(ts)), "-o", ms=3, color=c, label=name)
    ax.set_xlabel("t on the curve")
    ax.set_ylabel(r"$\|H\,\hat d\|$")
    ax.legend(fontsize=8)
    return ax


def plot_digit_decisions(
    images: ArrayLike,
    labels: ArrayLike,
    predictions: Mapping[str, ArrayLike],
    *,
    fig: Figure | None = None,
) -> Figure:
    """A row of 8x8 images, each with one line per network above it: its name and predicted label.

    A network's line is red (``WRONG_COLOR``) when that network is wrong on the image and black when
    it is right; only the wrong network is marked.

    Args:
        images: ``(M, 64)`` or ``(M, 8, 8)`` pixel values.
        labels: true labels, shape ``(M,)``.
        predictions: network name -> predicted labels, shape ``(M,)``.
        fig: a Figure (or SubFigure) to draw into (cleared first), or ``None`` for a new one.

    Returns:
        The Figure with ``M`` image Axes; each holds one Text ``"name: k"`` per network, top to
        bottom in the order of ``predictions``.

    Example:
        >>> import numpy as np
        >>> fig = plot_digit_decisions(np.zeros((2, 64)), [3, 4], {"line": [3, 1], "curve": [3, 4]})
        >>> [[t.get_text() for t in ax.texts] for ax in fig.axes]
        [['line: 3', 'curve: 3'], ['line: 1', 'curve: 4']]
        >>> [t.get_color() for t in fig.axes[1].texts]
        ['C3', 'k']
    """
    imgs = np.asarray(images, dtype=float)
    m = imgs.shape[0] if imgs.ndim >= 2 else 0
    if imgs.ndim == 2 and imgs.shape[1] == 64:
        imgs = imgs.reshape(m, 8, 8)
    if imgs.ndim != 3 or imgs.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (M, 64) or (M, 8, 8), got {np.shape(images)}.")
    lab = np.asarray(labels)
    if lab.shape != (m,):
        raise ValueError(f"labels must have shape ({m},), got {lab.shape}.")
    preds = {k: np.asarray(v) for k, v in predictions.items()}
    for k, v in preds.items():
        if v.shape != (m,):
            raise ValueError(f"predictions[{k!r}] must have shape ({m},), got {v.shape}.")
    if fig is None:
        fig = plt.figure(figsize=(1.4 * m, 1.9))
    fig.clear()
    axes = fig.subplots(1, m, squeeze=False)[0]
    n = len(preds)
    for i, ax in enumerate(axes):
        ax.imshow(imgs[i], cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        for k, (name, v) in enumerate(preds.items()):
            wrong = int(v[i]) != int(lab[i])
            ax.text(0.5, 1.03 + 0.17 * (n - 1 - k), f"{name}: {int(v[i])}", transform=ax.transAxes,
                    ha="center", va="bottom", fontsize=9, color=WRONG_COLOR if wrong else "k",
                    fontweight="bold" if wrong else "normal")
        ax.set_xlabel(f"true {int(lab[i])}", fontsize=8)
    return fig
