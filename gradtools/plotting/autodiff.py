r"""Plots for lecture 2 (Taylor approximations and autodiff).

Taylor models of 1-D and 2-D functions and how their error shrinks, contour maps of stationary
points, Hessian eigenvalue spectra, cost curves of Jacobians versus products, and a
predicted-versus-measured agreement plot. Each function draws on ``ax`` (a new figure when
``ax is None``) and returns the Axes; none of them prints or shows.

References:
    Lecture 2 of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 2.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import NullLocator

__all__ = [
    "taylor_polynomial_1d",
    "plot_taylor_1d",
    "plot_taylor_2d",
    "plot_taylor_error",
    "plot_function_contours",
    "plot_chord",
    "plot_curves",
    "plot_spectra",
    "plot_sorted_eigenvalues",
    "plot_timings",
    "plot_agreement",
]


#: How far below a series :func:`plot_taylor_error` draws its reference slope (a factor).
_REFERENCE_OFFSET = 3.0


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6))
    return ax


def _check_order(order: int) -> None:
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise ValueError(f"Taylor orders must be non-negative ints, got {order!r}. Use e.g. orders=(1, 2).")


def _derivatives(f: Callable[[jax.Array], jax.Array], x0: jax.Array, order: int) -> jax.Array:
    """``[f(x0), f'(x0), ..., f^(order)(x0)]`` by repeated ``jax.grad`` (call it under one ``jit``)."""
    out, d = [], f
    for _ in range(order + 1):
        out.append(d(x0))
        d = jax.grad(d)
    return jnp.stack(out)


def taylor_polynomial_1d(f: Callable[[jax.Array], jax.Array], x0: float, order: int) -> Callable:
    r"""The Taylor polynomial of a scalar function of one variable, derivatives by ``jax.grad``.

    .. math:: T_k(x) = \sum_{j=0}^{k} \frac{f^{(j)}(x_0)}{j!} (x - x_0)^j

    Args:
        f: scalar function of a scalar.
        x0: expansion point.
        order: the degree :math:`k \ge 0`.

    Returns:
        A vectorized function ``x -> T_k(x)`` (numpy in, numpy out).

    Example:
        >>> import jax.numpy as jnp
        >>> T2 = taylor_polynomial_1d(jnp.exp, 0.0, 2)
        >>> float(T2(1.0))
        2.5
    """
    _check_order(order)
    derivs = np.asarray(jax.jit(functools.partial(_derivatives, f, order=order))(jnp.asarray(x0, dtype=float)))
    coeffs = [float(d) / math.factorial(j) for j, d in enumerate(derivs)]

    def T(x):
        h = np.asarray(x, dtype=float) - x0
        return sum(c * h**j for j, c in enumerate(coeffs))

    return T


def plot_taylor_1d(
    f: Callable[[jax.Array], jax.Array],
    x0: float,
    *,
    radius: float = 1.0,
    orders: Sequence[int] = (1, 2),
    num: int = 201,
    ax: Axes | None = None,
) -> Axes:
    r"""Plot :math:`f` near :math:`x_0` with its Taylor polynomials of the given orders.

    Draws ``1 + len(orders)`` curves (``f`` solid, each polynomial dashed) and one marker at
    :math:`(x_0, f(x_0))`. The y-range is clipped to the range of ``f`` (with a margin), so a
    polynomial that leaves the picture does not squash it.

    Args:
        f: scalar function of a scalar (JAX-differentiable).
        x0: expansion point.
        radius: half-width of the plotted interval.
        orders: degrees of the polynomials to draw.
        num: number of points per curve.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes.
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}.")
    for k in orders:
        _check_order(k)
    ax = _axes(ax)
    xs = np.linspace(x0 - radius, x0 + radius, num)
    top = max(orders, default=0)

    @jax.jit
    def evaluate(grid, x):  # one compiled program: the curve and the derivatives at x0
        return jax.vmap(f)(grid), _derivatives(f, x, top)

    fx, derivs = evaluate(jnp.asarray(xs), jnp.asarray(x0, dtype=float))
    fx, derivs = np.asarray(fx), np.asarray(derivs)
    ax.plot(xs, fx, color="k", lw=2, label="f")
    for k in orders:
        poly = sum(derivs[j] / math.factorial(j) * (xs - x0) ** j for j in range(k + 1))
        ax.plot(xs, poly, ls="--", label=f"order {k}")
    ax.plot([x0], [float(derivs[0])], "o", color="k", label=r"$x_0$")
    span = fx.max() - fx.min()
    ax.set_ylim(fx.min() - 0.25 * span - 1e-12, fx.max() + 0.25 * span + 1e-12)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize="small")
    return ax


def plot_taylor_2d(
    f: Callable[[jax.Array], jax.Array],
    x0: Sequence[float],
    *,
    radius: float = 1.0,
    num: int = 81,
    levels: int = 12,
    ax: Axes | None = None,
) -> Axes:
    r"""Contours of a 2-D function (solid) and of its second-order Taylor model (dashed).

    .. math::
        f(x_0 + \Delta) \approx f(x_0) + \nabla f(x_0)^\top \Delta
        + \tfrac{1}{2} \Delta^\top \nabla^2 f(x_0) \Delta

    Both contour sets use the same levels, so where the dashed lines follow the solid ones the
    quadratic model is accurate. The expansion point is marked.

    Args:
        f: scalar function of a shape-(2,) array.
        x0: expansion point, two numbers.
        radius: half-width of the square window.
        num: grid points per axis.
        levels: number of contour levels.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (two contour sets and one marker line).
    """
    x0 = jnp.asarray(x0, dtype=float)
    if x0.shape != (2,):
        raise ValueError(f"x0 must have shape (2,) for a 2-D plot, got {x0.shape}.")
    ax = _axes(ax)
    a = np.linspace(-radius, radius, num)
    D = np.stack(np.meshgrid(a, a), axis=-1).reshape(-1, 2)

    @jax.jit
    def evaluate(p, D):  # one compiled program: f on the grid and its quadratic model
        f0, g, H = f(p), jax.grad(f)(p), jax.hessian(f)(p)
        F = jax.vmap(lambda d: f(p + d))(D)
        return F, f0 + D @ g + 0.5 * jnp.einsum("ni,ij,nj->n", D, H, D)

    F, Q = evaluate(x0, jnp.asarray(D, dtype=x0.dtype))
    F, Q = np.asarray(F).reshape(num, num), np.asarray(Q).reshape(num, num)
    lv = np.linspace(F.min(), F.max(), levels + 2)[1:-1]
    X, Y = np.meshgrid(a + float(x0[0]), a + float(x0[1]))
    ax.contour(X, Y, F, levels=lv, colors="k", linewidths=1.2)
    ax.contour(X, Y, Q, levels=lv, colors="tab:red", linestyles="--", linewidths=1.0)
    ax.plot([float(x0[0])], [float(x0[1])], "o", color="tab:red")
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    ax.set_aspect("equal")
    ax.set_title("f (black) and its quadratic model (red)", fontsize="small")
    return ax


def plot_taylor_error(
    h: Sequence[float],
    errors: Mapping[str, Sequence[float]],
    *,
    slopes: Mapping[str, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    r"""Log-log plot of Taylor-model errors against the step size, with reference slopes.

    A first-order model's error shrinks like :math:`h^2`, a second-order one's like :math:`h^3`:
    on log-log axes, straight lines of slope 2 and 3. For each ``label -> p`` in ``slopes`` a
    dotted :math:`C h^p` line is drawn in the series' colour, parallel to where the series would run
    with that slope and a factor 3 below its last point, so that it stays
    visible beside the data instead of hiding under it.

    Args:
        h: step sizes, shape (k,), positive.
        errors: ``label -> |error|`` per step size, each shape (k,).
        slopes: optional ``label -> p``: reference slope to draw for that series.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one line per series, one per reference slope).
    """
    h = np.asarray(h, dtype=float)
    if h.ndim != 1 or np.any(h <= 0):
        raise ValueError(f"h must be a 1-D array of positive step sizes, got {h!r}.")
    slopes = dict(slopes or {})
    unknown = set(slopes) - set(errors)
    if unknown:
        raise ValueError(f"slopes names series {sorted(unknown)} that are not in errors {sorted(errors)}.")
    ax = _axes(ax)
    for label, e in errors.items():
        e = np.asarray(e, dtype=float)
        if e.shape != h.shape:
            raise ValueError(f"errors[{label!r}] has shape {e.shape}, expected {h.shape} (one per step size).")
        (line,) = ax.loglog(h, e, "o-", label=label)
        if label in slopes:
            p = slopes[label]
            ax.loglog(h, e[-1] / _REFERENCE_OFFSET * (h / h[-1]) ** p, ":", color=line.get_color(),
                      label=f"slope {p:g}")
    ax.set_xlabel("step size h")
    ax.set_ylabel("|error|")
    ax.legend(fontsize="small")
    return ax


def plot_function_contours(
    f: Callable[[jax.Array], jax.Array],
    *,
    center: Sequence[float] = (0.0, 0.0),
    radius: float = 1.0,
    num: int = 81,
    levels: int = 15,
    points: Sequence[Sequence[float]] = (),
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Filled contours of a 2-D function, with points (e.g. stationary points) marked.

    Args:
        f: scalar function of a shape-(2,) array.
        center: center of the square window.
        radius: half-width of the window.
        num: grid points per axis.
        levels: number of contour levels.
        points: points to mark, each two numbers.
        title: optional title.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one filled contour set, one marker line when ``points`` is not empty).
    """
    c = np.asarray(center, dtype=float)
    if c.shape != (2,):
        raise ValueError(f"center must have two numbers, got shape {c.shape}.")
    ax = _axes(ax)
    a = np.linspace(-radius, radius, num)
    X, Y = np.meshgrid(a + c[0], a + c[1])
    P = jnp.stack([jnp.asarray(X.ravel()), jnp.asarray(Y.ravel())], axis=-1)
    F = np.asarray(jax.jit(jax.vmap(f))(P)).reshape(num, num)
    ax.contourf(X, Y, F, levels=levels, cmap="viridis")
    ax.contour(X, Y, F, levels=levels, colors="w", linewidths=0.4)
    if len(points):
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        ax.plot(pts[:, 0], pts[:, 1], "*", color="tab:red", ms=12)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize="small")
    return ax


def plot_chord(
    f: Callable[[jax.Array], jax.Array],
    x1: float,
    x2: float,
    *,
    margin: float = 0.5,
    num: int = 201,
    ax: Axes | None = None,
) -> Axes:
    r"""A 1-D function with the chord between :math:`(x_1, f(x_1))` and :math:`(x_2, f(x_2))`.

    Convexity says the chord lies on or above the graph:
    :math:`\lambda f(x_1) + (1-\lambda) f(x_2) \ge f(\lambda x_1 + (1-\lambda) x_2)`
    for :math:`\lambda \in [0, 1]`. The region where the graph rises above the chord (a
    violation) is shaded, and named in the legend when it is not empty.

    Args:
        f: scalar function of a scalar.
        x1: left end of the chord.
        x2: right end of the chord, ``> x1``.
        margin: how far the plot extends beyond the chord on each side.
        num: points per curve.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (the graph, the chord with its two end points, and one shaded region).
    """
    if not x2 > x1:
        raise ValueError(f"expected x1 < x2, got x1={x1}, x2={x2}. Swap them.")
    ax = _axes(ax)
    xs = np.linspace(x1 - margin, x2 + margin, num)
    inner = np.linspace(x1, x2, num)
    # every value in one compiled call: the wide curve, the curve under the chord, the end points
    values = np.asarray(jax.jit(jax.vmap(f))(jnp.asarray(np.concatenate([xs, inner, [x1, x2]]))))
    fx, graph, (f1, f2) = values[:num], values[num:2 * num], values[2 * num:]
    ax.plot(xs, fx, color="k", lw=2, label="f")
    ax.plot([x1, x2], [f1, f2], "o-", color="tab:blue", label="chord")
    chord = f1 + (f2 - f1) * (inner - x1) / (x2 - x1)
    above = graph > chord
    # the legend names the shaded region only where there is one (a convex f has none)
    ax.fill_between(inner, chord, graph, where=above, color="tab:red", alpha=0.3,
                    label="graph above chord" if np.any(above) else None)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize="small")
    return ax


def plot_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    dashed: Sequence[str] = (),
    points: tuple[Sequence[float], Sequence[float]] | None = None,
    colors: Mapping[str, str] | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    ax: Axes | None = None,
) -> Axes:
    """Several curves over a common x (solid, or dashed for the labels in ``dashed``), with
    optional scattered points (e.g. training data).

    Args:
        x: shared x values, shape (k,).
        curves: ``label -> y values``, each shape (k,).
        dashed: labels to draw dashed (first-order predictions, tangents...).
        points: optional ``(xs, ys)`` to scatter.
        colors: optional ``label -> matplotlib colour``, e.g. one colour for a curve and its
            tangent; curves not named take the next colour of the cycle.
        xlabel: x-axis label.
        ylabel: y-axis label.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one line per curve, one collection for the points).

    Example:
        >>> import numpy as np
        >>> x = np.linspace(0.0, 1.0, 5)
        >>> ax = plot_curves(x, {"f": x**2, "tangent": x - 0.25}, dashed=["tangent"],
        ...                  colors={"f": "tab:blue", "tangent": "tab:blue"})
        >>> [line.get_color() for line in ax.get_lines()]
        ['tab:blue', 'tab:blue']
    """
    x = np.asarray(x, dtype=float)
    colors = dict(colors or {})
    for what, names in (("dashed", set(dashed)), ("colors", set(colors))):
        unknown = names - set(curves)
        if unknown:
            raise ValueError(f"{what} names curves {sorted(unknown)} that are not in curves {sorted(curves)}.")
    ax = _axes(ax)
    for label, y in curves.items():
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise ValueError(f"curves[{label!r}] has shape {y.shape}, expected {x.shape} (one per x).")
        style = {"color": colors[label]} if label in colors else {}
        ax.plot(x, y, ls="--" if label in dashed else "-", label=label, **style)
    if points is not None:
        ax.scatter(np.asarray(points[0], dtype=float), np.asarray(points[1], dtype=float), s=14, color="k", zorder=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_spectra(
    eigvals: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    bins: int = 60,
    ax: Axes | None = None,
) -> Axes:
    """Histograms (counts on a log scale) of several eigenvalue spectra on common bins.

    A log count axis shows both the bulk of near-zero eigenvalues and the few outliers.

    Args:
        eigvals: one 1-D array of eigenvalues per spectrum (e.g. per training checkpoint).
        labels: one label per spectrum.
        bins: number of common bins spanning all spectra.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one step histogram per spectrum, one zero line).
    """
    if len(eigvals) != len(labels) or len(labels) == 0:
        raise ValueError(f"need one label per spectrum, got {len(eigvals)} spectra and {len(labels)} labels.")
    arrays = [np.asarray(e, dtype=float).ravel() for e in eigvals]
    lo = min(a.min() for a in arrays)
    hi = max(a.max() for a in arrays)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    ax = _axes(ax)
    for a, label in zip(arrays, labels):
        ax.hist(a, bins=edges, histtype="step", log=True, lw=1.5, label=label)
    ax.axvline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel("count")
    ax.legend(fontsize="small")
    return ax


def plot_sorted_eigenvalues(
    eigvals: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    linthresh: float = 1e-3,
    ax: Axes | None = None,
) -> Axes:
    """Eigenvalues sorted in decreasing order against their rank, on a symmetric-log y axis.

    Args:
        eigvals: one 1-D array of eigenvalues per spectrum.
        labels: one label per spectrum.
        linthresh: the y axis is linear inside ``[-linthresh, linthresh]``, logarithmic outside.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one line per spectrum).
    """
    if len(eigvals) != len(labels) or len(labels) == 0:
        raise ValueError(f"need one label per spectrum, got {len(eigvals)} spectra and {len(labels)} labels.")
    ax = _axes(ax)
    for e, label in zip(eigvals, labels):
        e = np.sort(np.asarray(e, dtype=float).ravel())[::-1]
        ax.plot(np.arange(1, e.size + 1), e, label=label)
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("rank")
    ax.set_ylabel(r"eigenvalue $\lambda$")
    ax.legend(fontsize="small")
    return ax


def plot_timings(
    sizes: Sequence[float],
    timings: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "dimension n",
    ylabel: str = "seconds",
    ax: Axes | None = None,
) -> Axes:
    """Log-log cost curves (time, memory...) of several methods against problem size.

    The x ticks are the sizes measured, labelled as plain numbers (``128``, ``256``...), with no
    minor ticks: matplotlib's default minor labels on a log axis (``3x10^2``, ``4x10^2``) overlap.

    Args:
        sizes: problem sizes, shape (k,), positive and increasing.
        timings: ``label -> cost`` per size, each shape (k,), positive.
        xlabel: x-axis label.
        ylabel: y-axis label.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one line per method).

    Example:
        >>> ax = plot_timings([128, 256, 512], {"jacobian": [1.0, 4.0, 16.0]})
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['128', '256', '512']
    """
    sizes = np.asarray(sizes, dtype=float)
    if sizes.ndim != 1 or sizes.size == 0 or np.any(sizes <= 0) or np.any(np.diff(sizes) <= 0):
        raise ValueError(f"sizes must be positive and increasing, got {sizes.tolist()}.")
    ax = _axes(ax)
    for label, t in timings.items():
        t = np.asarray(t, dtype=float)
        if t.shape != sizes.shape:
            raise ValueError(f"timings[{label!r}] has shape {t.shape}, expected {sizes.shape} (one per size).")
        ax.loglog(sizes, t, "o-", label=label)
    ax.set_xticks(sizes, labels=[f"{s:g}" for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_agreement(
    predicted: Sequence[float],
    measured: Sequence[float],
    *,
    xlabel: str = "predicted",
    ylabel: str = "measured",
    ax: Axes | None = None,
) -> Axes:
    """Scatter of predicted against measured values with the line y = x.

    Used to compare a first-order prediction (e.g. the implicit-function response) with a
    brute-force measurement (finite differences of re-fitted models).

    Args:
        predicted: values on the x axis, any shape (flattened).
        measured: values on the y axis, same size.
        xlabel: x-axis label.
        ylabel: y-axis label.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes (one scatter collection, one diagonal line).
    """
    p = np.asarray(predicted, dtype=float).ravel()
    m = np.asarray(measured, dtype=float).ravel()
    if p.shape != m.shape:
        raise ValueError(f"predicted and measured must have the same size, got {p.size} and {m.size}.")
    ax = _axes(ax)
    ax.scatter(p, m, s=12, alpha=0.7)
    lo, hi = float(min(p.min(), m.min())), float(max(p.max(), m.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
