r"""Plots for lecture 3 (metrics): Rosenbrock paths in parameter and output space, proximal and
natural-gradient steps, metric ellipses (the Fisher metric of Gaussians), vector fields of
preconditioned gradients (Kunstner et al.'s figure), vectors against covectors, and log-log curves.

Every function draws on a matplotlib Axes (``ax=None`` makes a new figure) and returns the Axes,
except the multi-panel ones (:func:`plot_rosenbrock_paths`, :func:`plot_preconditioner_fields`,
:func:`plot_gaussian_fisher`), which return the Figure.

References:
    Lecture 3 of this course; R. Grosse, CSC 2541 *Neural Net Training Dynamics*, lecture 3 (2022);
    F. Kunstner, L. Balles and P. Hennig, *Limitations of the empirical Fisher approximation for
    natural gradient descent*, NeurIPS (2019), https://arxiv.org/abs/1905.12558.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from jax.typing import ArrayLike
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from gradtools.divergences import gaussian_fisher

__all__ = [
    "plot_rosenbrock_contours",
    "plot_path",
    "plot_rosenbrock_paths",
    "plot_steps",
    "plot_metric_ellipses",
    "plot_gaussian_fisher",
    "plot_vector_field",
    "plot_preconditioner_fields",
    "plot_vector_covector",
    "plot_loglog",
    "plot_bregman",
]

_COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _colors_for(names: Sequence[str], colors: Mapping[str, str] | None, what: str) -> dict[str, str]:
    """A colour per name: ``colors[name]`` where given, else the default cycle by position."""
    colors = dict(colors or {})
    unknown = sorted(set(colors) - set(names))
    if unknown:
        raise ValueError(f"colors names {unknown}, which are not among the {what} {list(names)}; "
                         "give colours only for names that are drawn.")
    return {name: colors.get(name, _COLORS[i % len(_COLORS)]) for i, name in enumerate(names)}


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (5.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_path(path: ArrayLike, name: str = "path") -> np.ndarray:
    p = np.asarray(path, dtype=float)
    if p.ndim == 1 and p.shape == (2,):
        p = p[None]
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(
            f"{name} must be 2-D points of shape (num_points, 2) (rows are iterates), got shape "
            f"{np.shape(path)}. Stack the iterates with jnp.stack(list_of_points)."
        )
    return p


def _rosenbrock_np(x1: np.ndarray, x2: np.ndarray, a: float, b: float) -> np.ndarray:
    return (a - x1) ** 2 + b * (x2 - x1**2) ** 2


def plot_rosenbrock_contours(
    ax: Axes | None = None,
    *,
    xlim: tuple[float, float] = (-1.6, 1.6),
    ylim: tuple[float, float] = (-0.6, 1.6),
    a: float = 1.0,
    b: float = 100.0,
    levels: int = 14,
    num: int = 200,
) -> Axes:
    r"""Contours of the Rosenbrock function :math:`(a-x_1)^2 + b(x_2-x_1^2)^2`, log-spaced.

    Log-spaced levels show both the steep walls and the flat curved valley; the minimum
    :math:`(a, a^2)` is marked with a star.

    Args:
        ax: Axes to draw on (``None``: a new figure).
        xlim, ylim: the window.
        a, b: Rosenbrock's constants.
        levels: number of contour levels.
        num: grid points per axis.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_rosenbrock_contours()
    """
    ax = _new_ax(ax)
    x1, x2 = np.meshgrid(np.linspace(*xlim, num), np.linspace(*ylim, num))
    h = _rosenbrock_np(x1, x2, a, b)
    lv = np.geomspace(max(h.min(), 1e-3) + 1e-3, h.max(), levels)
    ax.contour(x1, x2, h, levels=lv, colors="0.6", linewidths=0.7)
    ax.plot([a], [a**2], "*", color="k", markersize=12, zorder=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    return ax


def plot_path(
    path: ArrayLike,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    color: str | None = None,
    marker: str = "o",
    markersize: float = 3.0,
    **kwargs,
) -> Axes:
    """Draw a 2-D path (rows are iterates) with its start marked by a larger open circle.

    Args:
        path: array of shape ``(num_points, 2)``.
        ax: Axes to draw on.
        label, color, marker, markersize: passed to ``Axes.plot``; extra ``kwargs`` too.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_path([[0, 0], [1, 1], [1, 2]], label="GD")
    """
    ax = _new_ax(ax)
    p = _as_path(path)
    (line,) = ax.plot(p[:, 0], p[:, 1], marker=marker, markersize=markersize, color=color, label=label, **kwargs)
    # the start marker takes the line's colour (not the next one of the cycle, which it would advance)
    ax.plot(p[0, 0], p[0, 1], "o", color=line.get_color(), mfc="none", mec=line.get_color(), markersize=9)
    return ax


def plot_rosenbrock_paths(
    paths: Mapping[str, ArrayLike],
    output_paths: Mapping[str, ArrayLike],
    *,
    a: float = 1.0,
    b: float = 100.0,
    xlim: tuple[float, float] = (-1.6, 1.6),
    ylim: tuple[float, float] = (-0.6, 1.6),
    colors: Mapping[str, str] | None = None,
) -> Figure:
    r"""Two panels: paths in parameter space over Rosenbrock's contours, and the same paths in output
    space :math:`z = f(x)` over the circles :math:`\mathcal L(z) = z_1^2 + z_2^2`.

    Args:
        paths: name -> array ``(T, 2)`` of parameter iterates.
        output_paths: name -> array ``(T, 2)`` of their images ``f(x)`` (same names).
        a, b: Rosenbrock's constants.
        xlim, ylim: the parameter-space window.
        colors: name -> matplotlib colour, so that one method keeps one colour across figures
            (names left out take the default cycle by position).

    Returns:
        The Figure (two Axes: parameter space, output space).

    Example:
        >>> import numpy as np
        >>> fig = plot_rosenbrock_paths({"GD": np.zeros((3, 2))}, {"GD": np.ones((3, 2))})
    """
    if set(paths) != set(output_paths):
        raise ValueError(
            f"paths and output_paths must have the same names, got {sorted(paths)} and "
            f"{sorted(output_paths)}. Pass f(x) for every path, e.g. jax.vmap(rosenbrock_f)(path)."
        )
    fig, (ax_x, ax_z) = plt.subplots(1, 2, figsize=(10, 4))
    plot_rosenbrock_contours(ax_x, xlim=xlim, ylim=ylim, a=a, b=b)
    zs = {k: _as_path(v, f"output_paths[{k!r}]") for k, v in output_paths.items()}
    cols = _colors_for(list(paths), colors, "paths")
    for name, p in paths.items():
        c = cols[name]
        plot_path(p, ax_x, label=name, color=c)
        plot_path(zs[name], ax_z, label=name, color=c)
    r = max(max(np.max(np.abs(z)) for z in zs.values()), 1e-3) * 1.15
    g = np.linspace(-r, r, 200)
    z1, z2 = np.meshgrid(g, g)
    ax_z.contour(z1, z2, z1**2 + z2**2, levels=8, colors="0.6", linewidths=0.7)
    ax_z.plot([0], [0], "*", color="k", markersize=12, zorder=5)
    ax_z.set_aspect("equal")
    ax_z.set_xlabel(r"$z_1 = a - x_1$")
    ax_z.set_ylabel(r"$z_2 = \sqrt{b}\,(x_2 - x_1^2)$")
    ax_x.set_title("parameter space")
    ax_z.set_title("output space")
    ax_x.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_steps(
    x0: ArrayLike,
    endpoints: Mapping[str, ArrayLike],
    ax: Axes | None = None,
    *,
    colors: Mapping[str, str] | None = None,
    ringed: Sequence[str] = (),
) -> Axes:
    """Arrows from a point ``x0`` to the end point of each named step (one color each).

    Args:
        x0: the start, shape ``(2,)``.
        endpoints: name -> end point, shape ``(2,)``.
        ax: Axes to draw on.
        colors: name -> colour (default: the colour cycle by position).
        ringed: names drawn as a wide translucent arrow ending in a large ring, under the others,
            so that a step lying on top of it leaves it visible.

    Returns:
        The Axes, with a legend.

    Example:
        >>> ax = plot_steps([0, 0], {"GD": [1, 0], "natural": [0.5, 0.5]})
    """
    ax = _new_ax(ax)
    x0 = _as_path(x0, "x0")[0]
    cols = _colors_for(list(endpoints), colors, "steps")
    unknown = sorted(set(ringed) - set(endpoints))
    if unknown:
        raise ValueError(f"ringed names {unknown}, which are not among the steps {list(endpoints)}.")
    ax.plot(*x0, "ko", markersize=6, zorder=7)
    for name, e in endpoints.items():
        e = _as_path(e, f"endpoints[{name!r}]")[0]
        c = cols[name]
        if name in ringed:
            ax.annotate("", xy=e, xytext=x0, zorder=5,
                        arrowprops=dict(arrowstyle="-", color=c, lw=6, alpha=0.5, shrinkA=0, shrinkB=0))
            ax.plot(*e, "o", mfc="none", mec=c, mew=2, markersize=11, label=name, zorder=5)
        else:
            ax.annotate(
                "", xy=e, xytext=x0, arrowprops=dict(arrowstyle="-|>", color=c, lw=2, shrinkA=0, shrinkB=0), zorder=6
            )
            ax.plot(*e, "o", color=c, markersize=5, label=name, zorder=6)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_metric_ellipses(
    centers: ArrayLike,
    metrics: ArrayLike,
    ax: Axes | None = None,
    *,
    radius: float = 1.0,
    **kwargs,
) -> Axes:
    r"""Draw the ball :math:`\{c + \delta : \delta^\top G\, \delta = r^2\}` of a metric at each center.

    The ellipse's semi-axes point along the eigenvectors of :math:`G` with lengths
    :math:`r/\sqrt{\lambda_i}`: a large eigenvalue (the distribution or function changes fast in
    that direction) gives a short axis.

    Args:
        centers: shape ``(n, 2)`` (or ``(2,)`` for one).
        metrics: shape ``(n, 2, 2)`` (or ``(2, 2)``), symmetric positive definite.
        ax: Axes to draw on.
        radius: :math:`r`.
        kwargs: passed to ``matplotlib.patches.Ellipse`` (e.g. ``color``, ``alpha``, ``fill``).

    Returns:
        The Axes (ellipses added as patches; the data limits are updated).

    Example:
        >>> import numpy as np
        >>> ax = plot_metric_ellipses([[0, 1]], [np.diag([1.0, 4.0])], radius=0.5)
    """
    ax = _new_ax(ax)
    c = np.asarray(centers, dtype=float).reshape(-1, 2)
    G = np.asarray(metrics, dtype=float)
    if G.shape == (2, 2):
        G = G[None]
    if G.ndim != 3 or G.shape[1:] != (2, 2) or G.shape[0] != c.shape[0]:
        raise ValueError(
            f"metrics must have shape (n, 2, 2) with n = len(centers) = {c.shape[0]}, got "
            f"{np.shape(metrics)}. Stack one 2x2 metric per center."
        )
    kw = dict(fill=False, color="C0", lw=1.2)
    kw.update(kwargs)
    for ci, Gi in zip(c, G):
        evals, evecs = np.linalg.eigh(0.5 * (Gi + Gi.T))
        if evals[0] <= 0:
            raise ValueError(f"metrics must be positive definite, got eigenvalues {evals}.")
        angle = np.degrees(np.arctan2(evecs[1, 0], evecs[0, 0]))
        w, h = 2 * radius / np.sqrt(evals)
        ax.add_patch(Ellipse(xy=ci, width=w, height=h, angle=angle, **kw))
    ax.update_datalim(c)
    ax.autoscale_view()
    return ax


def plot_gaussian_fisher(
    mu: float,
    sigma: float,
    *,
    mu_grid: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    sigma_grid: Sequence[float] = (0.5, 1.0, 1.5, 2.0, 2.5),
    radius: float = 0.25,
    num_boundary: int = 6,
) -> Figure:
    r"""The Fisher metric of univariate Gaussians over the :math:`(\mu, \sigma)` plane, and densities.

    Left: Fisher balls :math:`\delta^\top F(\mu,\sigma)\delta = r^2`, with
    :math:`F = \operatorname{diag}(1/\sigma^2, 2/\sigma^2)`, at the grid points (grey) and at
    :math:`(\mu, \sigma)` (red): they grow with :math:`\sigma`, and are :math:`\sqrt2` times wider
    in :math:`\mu` than in :math:`\sigma`. Right: the density :math:`\mathcal N(\mu, \sigma^2)` (red)
    and the densities at ``num_boundary`` points on its ball, all about :math:`r^2/2` nats of KL
    away from it.

    Args:
        mu, sigma: the highlighted Gaussian (``sigma > 0``).
        mu_grid, sigma_grid: where to draw the grey balls.
        radius: :math:`r`.
        num_boundary: number of neighbouring densities drawn.

    Returns:
        The Figure (two Axes).

    Example:
        >>> fig = plot_gaussian_fisher(0.5, 1.2)
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}. It is a standard deviation.")
    fig, (ax_p, ax_d) = plt.subplots(1, 2, figsize=(10, 4))
    mg, sg = np.meshgrid(np.asarray(mu_grid, float), np.asarray(sigma_grid, float))
    centers = np.stack([mg.ravel(), sg.ravel()], -1)
    F = np.asarray(gaussian_fisher(centers[:, 0], centers[:, 1]))
    plot_metric_ellipses(centers, F, ax_p, radius=radius, color="0.5")
    F0 = np.asarray(gaussian_fisher(mu, sigma))
    plot_metric_ellipses([[mu, sigma]], F0, ax_p, radius=radius, color="C3", lw=2.5)
    ax_p.plot([mu], [sigma], "o", color="C3")
    ax_p.set_xlabel(r"mean $\mu$")
    ax_p.set_ylabel(r"standard deviation $\sigma$")
    ax_p.set_title(r"Fisher balls $\delta^\top F \delta = r^2$")
    lo_m, hi_m = min(min(mu_grid), mu) - 1.2, max(max(mu_grid), mu) + 1.2
    lo_s, hi_s = 0.0, max(max(sigma_grid), sigma) + 1.0
    ax_p.set_xlim(lo_m, hi_m)
    ax_p.set_ylim(lo_s, hi_s)
    ax_p.set_aspect("equal")

    span = max(3 * (sigma + radius * sigma), 3.0)
    x = np.linspace(mu - span, mu + span, 400)
    t = np.linspace(0, 2 * np.pi, num_boundary, endpoint=False)
    for ti in t:
        # A point on the ball: delta = r F^{-1/2} (cos t, sin t).
        d = radius * np.array([np.cos(ti) * sigma, np.sin(ti) * sigma / np.sqrt(2.0)])
        m2, s2 = mu + d[0], sigma + d[1]
        ax_d.plot(x, np.exp(-0.5 * ((x - m2) / s2) ** 2) / (s2 * np.sqrt(2 * np.pi)), color="0.6", lw=1)
    ax_d.plot(x, np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)), color="C3", lw=2.5)
    ax_d.set_xlabel("$x$")
    ax_d.set_ylabel("density")
    ax_d.set_title(rf"$\mathcal{{N}}(\mu={mu:.3g}, \sigma={sigma:.3g})$ and its Fisher-ball neighbours")
    fig.tight_layout()
    return fig


def plot_vector_field(
    grid_x: ArrayLike,
    grid_y: ArrayLike,
    u: ArrayLike,
    v: ArrayLike,
    ax: Axes | None = None,
    *,
    values: ArrayLike | None = None,
    paths: Sequence[ArrayLike] = (),
    target: ArrayLike | None = None,
    color: str = "C0",
    title: str | None = None,
    scale: float | None = None,
) -> Axes:
    """Quiver plot of a vector field on a grid, with optional loss contours and trajectories.

    Args:
        grid_x, grid_y: 1-D coordinates of the grid (lengths ``nx``, ``ny``).
        u, v: field components, shape ``(ny, nx)`` (as ``np.meshgrid(grid_x, grid_y)`` gives).
        ax: Axes to draw on.
        values: optional scalar function values on the grid, ``(ny, nx)``, drawn as contours.
        paths: trajectories, each ``(T, 2)``, drawn as lines from a hexagon (start) to a dot (end).
        target: optional point (e.g. the optimum) marked with a star.
        color: color of the arrows and paths.
        title: Axes title.
        scale: ``None``: matplotlib's autoscaling of the arrows; a number: an arrow of length
            ``hypot(u, v) / scale`` in data units (so panels given the same ``scale`` are
            comparable).

    Returns:
        The Axes.

    Example:
        >>> import numpy as np
        >>> g = np.linspace(-1, 1, 5); X, Y = np.meshgrid(g, g)
        >>> ax = plot_vector_field(g, g, -X, -Y, values=X**2 + Y**2)
    """
    ax = _new_ax(ax)
    gx, gy = np.asarray(grid_x, float), np.asarray(grid_y, float)
    U, V = np.asarray(u, float), np.asarray(v, float)
    if U.shape != (gy.size, gx.size) or V.shape != U.shape:
        raise ValueError(
            f"u and v must have shape (len(grid_y), len(grid_x)) = {(gy.size, gx.size)}, got "
            f"{U.shape} and {V.shape}. Evaluate the field on np.meshgrid(grid_x, grid_y)."
        )
    X, Y = np.meshgrid(gx, gy)
    if values is not None:
        ax.contour(X, Y, np.asarray(values, float), levels=6, colors="0.7", linewidths=0.8)
    units = {} if scale is None else {"scale_units": "xy"}
    ax.quiver(X, Y, U, V, color=color, angles="xy", scale=scale, width=0.005, alpha=0.8, **units)
    for p in paths:
        p = _as_path(p)
        ax.plot(p[:, 0], p[:, 1], "-", color=color, lw=2.5, alpha=0.9)
        ax.plot(p[0, 0], p[0, 1], "h", color="k", markersize=7)
        ax.plot(p[-1, 0], p[-1, 1], ".", color="k", markersize=8)
    if target is not None:
        t = np.asarray(target, float)
        ax.plot(t[0], t[1], "*", color="k", markersize=13, zorder=5)
    ax.set_xlim(gx.min(), gx.max())
    ax.set_ylim(gy.min(), gy.max())
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax


def plot_preconditioner_fields(
    x: ArrayLike,
    y: ArrayLike,
    theta_star: ArrayLike,
    grid: ArrayLike,
    fields: Mapping[str, tuple[ArrayLike, ArrayLike]],
    paths: Mapping[str, Sequence[ArrayLike]],
    *,
    values: ArrayLike | None = None,
    titles: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    r"""Kunstner, Balles and Hennig's Figure 1: data, then one vector field per preconditioner.

    Panel 1 shows the data :math:`(x_i, y_i)` and the fitted line :math:`y = b + \theta x`; each
    further panel shows a field over the :math:`(b, \theta)` plane with the loss contours and the
    trajectories that follow it. All fields share one arrow scale (the largest 90th percentile of
    the arrow lengths over the panels is drawn as one grid spacing), so arrow lengths compare across
    panels; a legend explains the markers (start, end of each trajectory, optimum).

    Args:
        x, y: the 1-D regression data, shape ``(N,)``.
        theta_star: the least-squares solution ``(b, theta)``.
        grid: 1-D coordinates used for both axes.
        fields: name -> ``(u, v)``, each ``(len(grid), len(grid))``.
        paths: name -> list of ``(T, 2)`` trajectories (same names as ``fields``).
        values: the loss on the grid, for contours.
        titles: name -> panel title (default: the name).
        colors: name -> colour of that panel's arrows and paths (default: the colour cycle by position).

    Returns:
        The Figure.

    Example:
        >>> import numpy as np
        >>> g = np.linspace(-1, 5, 4); X, Y = np.meshgrid(g, g)
        >>> fig = plot_preconditioner_fields(np.ones(3), np.ones(3), [2, 2], g,
        ...                                  {"GD": (2 - X, 2 - Y)}, {"GD": []})
    """
    if set(fields) != set(paths):
        raise ValueError(
            f"fields and paths must have the same names, got {sorted(fields)} and {sorted(paths)}."
        )
    ts = np.asarray(theta_star, float)
    fig, axes = plt.subplots(1, len(fields) + 1, figsize=(3.4 * (len(fields) + 1), 3.6))
    ax0 = axes[0]
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    ax0.plot(xs, ys, ".", markersize=3, alpha=0.4, color="C7")
    line = np.linspace(0, max(xs.max(), 1.0), 50)
    ax0.plot(line, ts[0] + ts[1] * line, "k--", lw=2, label=r"$y = b + \theta x$")
    ax0.set_xlim(-0.5, min(np.quantile(xs, 0.995) * 1.1, xs.max()) + 0.5)
    ax0.set_xlabel("$x$")
    ax0.set_ylabel("$y$")
    ax0.set_title("data")
    ax0.legend(fontsize=8)
    g = np.asarray(grid, float)
    spacing = float(np.min(np.diff(g))) if g.size > 1 else 1.0
    p90 = max(float(np.quantile(np.hypot(np.asarray(u, float), np.asarray(v, float)), 0.9)) for u, v in fields.values())
    scale = max(p90, np.finfo(float).tiny) / spacing   # common to all panels
    titles = dict(titles or {})
    cols = _colors_for(list(fields), colors, "fields")
    for ax, (name, (u, v)) in zip(axes[1:], fields.items()):
        plot_vector_field(
            grid, grid, u, v, ax, values=values, paths=paths[name], target=ts, color=cols[name],
            title=titles.get(name, name), scale=scale,
        )
        ax.set_xlabel("$b$")
        ax.set_ylabel(r"$\theta$")
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="h", color="k", ls="none", markersize=7, label="start"),
        Line2D([], [], marker=".", color="k", ls="none", markersize=8, label="end of the trajectory"),
        Line2D([], [], marker="*", color="k", ls="none", markersize=11, label=r"optimum $(b_\star, \theta_\star)$"),
    ]
    if len(axes) > 1:
        axes[1].legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.8)
    fig.tight_layout()
    return fig


def plot_vector_covector(
    vector: ArrayLike,
    covector: ArrayLike,
    ax: Axes | None = None,
    *,
    metric: ArrayLike | None = None,
    extent: float = 3.0,
) -> Axes:
    r"""A vector as an arrow and a covector as its level lines :math:`\{x : \langle \omega, x\rangle = k\}`.

    The covector evaluated on the vector, :math:`\langle\omega, v\rangle`, is the number of level
    lines the arrow crosses. With a ``metric`` :math:`G`, also draws its unit ball and the vector
    :math:`G^{-1}\omega` that the metric associates with the covector (the musical isomorphism,
    "raising the index"): the steepest-ascent direction in that metric.

    Args:
        vector: shape ``(2,)``.
        covector: shape ``(2,)`` (row of coefficients).
        ax: Axes to draw on.
        metric: optional ``(2, 2)`` symmetric positive definite matrix.
        extent: half-width of the window.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_vector_covector([1.0, 0.5], [1.5, 1.0], metric=[[1.0, 0.0], [0.0, 4.0]])
    """
    ax = _new_ax(ax, (4.5, 4.5))
    vec, om = np.asarray(vector, float).reshape(2), np.asarray(covector, float).reshape(2)
    g = np.linspace(-extent, extent, 200)
    X, Y = np.meshgrid(g, g)
    vals = om[0] * X + om[1] * Y
    ks = np.arange(np.floor(vals.min()), np.ceil(vals.max()) + 1)
    ax.contour(X, Y, vals, levels=ks, colors="C1", linewidths=0.9)
    ax.annotate("", xy=vec, xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="C0", lw=2.5))
    ax.plot([], [], color="C0", lw=2.5, label=rf"vector $v$; $\langle\omega, v\rangle = {om @ vec:.3g}$")
    ax.plot([], [], color="C1", lw=0.9, label=r"covector $\omega$ (level lines)")
    if metric is not None:
        G = np.asarray(metric, float)
        plot_metric_ellipses([[0.0, 0.0]], G, ax, radius=1.0, color="C2", lw=1.5)
        sharp = np.linalg.solve(G, om)
        ax.annotate("", xy=sharp, xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="C2", lw=2.5))
        ax.plot([], [], color="C2", lw=2.5, label=r"$G^{-1}\omega$ and the unit ball of $G$")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_loglog(
    x: ArrayLike,
    curves: Mapping[str, ArrayLike],
    ax: Axes | None = None,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    slopes: Mapping[str, float] | None = None,
    slope_shift: float = 1.0,
    colors: Mapping[str, str] | None = None,
    xticks: str = "auto",
) -> Axes:
    """Curves on log-log axes, with optional reference slopes (dashed, through each curve's first point).

    Args:
        x: shape ``(n,)``, positive.
        curves: name -> values, shape ``(n,)``, positive.
        ax: Axes to draw on.
        xlabel, ylabel, title: labels.
        slopes: name -> power ``k``: draws ``c * x**k`` through the first point of that curve.
        slope_shift: factor applied to every reference line (``0.5`` draws it at half the height),
            so that a line the data follow exactly is not hidden under the curve.
        colors: name -> colour (default: the colour cycle by position), so that one quantity keeps
            one colour across a lecture's figures; a reference line takes its curve's colour.
        xticks: ``"data"`` puts the x ticks at the data points, labelled plainly (``0.005``,
            ``300``), with no minor tick labels; ``"log"`` keeps matplotlib's decades and minor
            labels; ``"auto"`` (default) is ``"data"`` for at most 8 distinct points, else ``"log"``.
            Matplotlib's minor labels at a few points (``3x10^-2``, ``4x10^-2``) can overlap.

    Returns:
        The Axes.

    Example:
        >>> import numpy as np
        >>> h = np.geomspace(1e-3, 1, 5)
        >>> ax = plot_loglog(h, {"error": h ** 2}, slopes={"error": 2})
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['0.001', '0.005623', '0.03162', '0.1778', '1']
    """
    if xticks not in ("auto", "data", "log"):
        raise ValueError(f'xticks must be "auto", "data" or "log", got {xticks!r}.')
    if not (isinstance(slope_shift, (int, float)) and slope_shift > 0):
        raise ValueError(f"slope_shift must be a positive factor, got {slope_shift!r}.")
    ax = _new_ax(ax)
    xs = np.asarray(x, float)
    cols = _colors_for(list(curves), colors, "curves")
    for name, c in curves.items():
        cs = np.asarray(c, float)
        if cs.shape != xs.shape:
            raise ValueError(f"curve {name!r} has shape {cs.shape}, expected {xs.shape} (the shape of x).")
        col = cols[name]
        ax.loglog(xs, cs, "o-", color=col, label=name, markersize=4)
        if slopes and name in slopes:
            k = slopes[name]
            ax.loglog(xs, slope_shift * cs[0] * (xs / xs[0]) ** k, "--", color=col, alpha=0.6, label=f"slope {k:g}")
    ticks = np.unique(xs)
    if xticks == "data" or (xticks == "auto" and ticks.size <= 8):
        from matplotlib.ticker import NullLocator

        ax.set_xticks(ticks, [f"{t:.4g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())  # no minor ticks, so no minor labels to collide
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_bregman(
    phi: Callable,
    z0: float,
    z: float,
    ax: Axes | None = None,
    *,
    lim: tuple[float, float] | None = None,
) -> Axes:
    r"""A 1-D Bregman divergence: the gap at ``z`` between :math:`\phi` and its tangent line at ``z0``.

    .. math:: D_\phi(z, z_0) = \phi(z) - \phi(z_0) - \phi'(z_0)(z - z_0)

    Args:
        phi: convex scalar function of a scalar (JAX-differentiable).
        z0: where the tangent touches.
        z: where the gap is drawn (a vertical segment, labelled with its length).
        ax: Axes to draw on.
        lim: the window in ``z`` (default: around ``z0`` and ``z``).

    Returns:
        The Axes.

    Example:
        >>> import jax.numpy as jnp
        >>> ax = plot_bregman(lambda t: jnp.logaddexp(0.0, t), -1.0, 2.0)
    """
    import jax

    ax = _new_ax(ax)
    z0, z = float(z0), float(z)
    if lim is None:
        span = abs(z - z0) + 1.0
        lim = (min(z0, z) - 0.5 * span, max(z0, z) + 0.5 * span)
    t = np.linspace(*lim, 300)
    # One compiled program for all the evaluations (cheaper than many small eager ones).
    evaluate = jax.jit(lambda t, z0, z: (jax.vmap(phi)(t), jax.value_and_grad(phi)(z0), phi(z)))
    vals, (p0, d0), pz = evaluate(jax.numpy.asarray(t), z0, z)
    vals, p0, d0, pz = np.asarray(vals), float(p0), float(d0), float(pz)
    tangent_z = p0 + d0 * (z - z0)
    ax.plot(t, vals, color="C0", lw=2, label=r"$\phi$")
    ax.plot(t, p0 + d0 * (t - z0), "--", color="C1", label=r"tangent at $z_0$")
    ax.plot([z, z], [tangent_z, pz], color="C3", lw=3, label=rf"$D_\phi(z, z_0) = {pz - tangent_z:.3g}$")
    ax.plot([z0], [p0], "ko")
    ax.set_xlabel("$z$")
    ax.legend(fontsize=8)
    return ax
