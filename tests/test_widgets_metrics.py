"""gradtools.widgets.metrics under Agg: the steps drawn are the right ones, and sliders redraw."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.optimize  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from gradtools import problems  # noqa: E402
from gradtools import widgets as gw  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


X0 = np.array([-0.5, 1.0])


def _ref_steps(x0, lam):
    """Independent references: dense derivatives and scipy's minimizer."""
    J = problems.rosenbrock
    f = problems.rosenbrock_f
    g = np.asarray(jax.grad(J)(jnp.asarray(x0)))
    Jf = np.asarray(jax.jacfwd(f)(jnp.asarray(x0)))
    z0 = np.asarray(f(jnp.asarray(x0)))

    def prox(rho):
        obj = lambda u: float(J(jnp.asarray(u))) + lam * rho(u)
        return scipy.optimize.minimize(obj, x0, method="Nelder-Mead", options=dict(xatol=1e-10, fatol=1e-14, maxiter=20000)).x

    return {
        "GD, lr 1/λ": x0 - g / lam,
        "prox, Euclidean ρ": prox(lambda u: 0.5 * np.sum((u - x0) ** 2)),
        "prox, pullback ρ": prox(lambda u: 0.5 * np.sum((np.asarray(f(jnp.asarray(u))) - z0) ** 2)),
        "natural gradient, G = JᵀJ": x0 - np.linalg.solve(Jf.T @ Jf, g) / lam,
        "damped Gauss-Newton (2JᵀJ + λI)": x0 - np.linalg.solve(2 * Jf.T @ Jf + lam * np.eye(2), g),
    }


@pytest.mark.parametrize("lam", [3.0, 50.0])
def test_rosenbrock_steps_match_references(lam):
    out = gw.rosenbrock_steps(X0, lam)
    ref = _ref_steps(X0, lam)
    assert list(out) == list(gw.metrics.STEP_NAMES)
    for name in out:
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_natural_gradient_approximates_pullback_prox_for_large_lambda():
    # The infinitesimal limit: the gap closes like 1/lam^2 while each step shrinks like 1/lam.
    gaps = []
    for lam in [100.0, 1000.0]:
        out = gw.rosenbrock_steps(X0, lam)
        gaps.append(np.linalg.norm(out["natural gradient, G = JᵀJ"] - out["prox, pullback ρ"]))
    assert gaps[1] < gaps[0] / 30


def test_rosenbrock_steps_errors():
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        gw.rosenbrock_steps([0.0, 0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="positive"):
        gw.rosenbrock_steps(X0, 0.0)


def test_plot_rosenbrock_steps_draws_the_endpoints():
    ax, ends = gw.plot_rosenbrock_steps(X0, 20.0)
    drawn = {ln.get_label(): ln.get_xydata()[0] for ln in ax.lines}
    for name, end in ends.items():
        if name in drawn:                      # inside the window: drawn where it is
            np.testing.assert_allclose(drawn[name], end)
        else:                                  # outside: drawn to the edge, and named so
            assert f"{name} (leaves the window)" in drawn
    assert "λ = 20" in ax.get_title()


def test_rosenbrock_explorer_redraws_on_slider_change():
    box = gw.rosenbrock_step_explorer(lam=10.0)
    assert box.last_drawn == {"lam": 10.0}
    assert box.lam_slider.continuous_update is False
    box.lam_slider.value = 100.0
    assert box.last_drawn == {"lam": 100.0}
    assert box.status.value == "lam=100"
    np.testing.assert_allclose(box.last_endpoints["GD, lr 1/λ"], _ref_steps(X0, 100.0)["GD, lr 1/λ"], rtol=1e-6)
    with pytest.raises(ValueError, match="range"):
        gw.rosenbrock_step_explorer(lam=0.1)


def test_gaussian_explorer_redraws_on_slider_change():
    box = gw.gaussian_fisher_explorer(mu=0.0, sigma=1.0)
    assert box.mu_slider.continuous_update is False and box.sigma_slider.continuous_update is False
    first = box.last_figure
    box.sigma_slider.value = 2.0
    box.mu_slider.value = -1.0
    assert box.last_drawn == {"mu": -1.0, "sigma": 2.0}
    assert box.status.value == "mu=-1, sigma=2"
    assert box.last_figure is not first
    ell = [p for p in box.last_figure.axes[0].patches if isinstance(p, Ellipse)][-1]
    np.testing.assert_allclose(ell.center, [-1.0, 2.0])
    with pytest.raises(ValueError, match="range"):
        gw.gaussian_fisher_explorer(sigma=10.0)


def test_plot_rosenbrock_steps_keeps_every_arrow_in_the_window():
    # at lam = 10 the GD step lands near (-15, -14), far outside: its arrow stops at the edge
    ax, ends = gw.plot_rosenbrock_steps([-0.5, 1.0], 10.0)
    assert np.abs(ends["GD, lr 1/λ"]).max() > 10
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "GD, lr 1/λ (leaves the window)" in labels
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    for line in ax.lines[-len(ends):]:
        x, y = line.get_xdata()[0], line.get_ydata()[0]
        assert x_lo <= x <= x_hi and y_lo <= y <= y_hi
    plt.close("all")


def test_plot_rosenbrock_steps_shows_short_steps_in_an_inset():
    # at lam = 200 the two pullback steps are ~0.03 long in a window 3.2 wide: an inset zooms on them,
    # and the pullback prox is a ring under the natural-gradient step, which lies on it
    ax, ends = gw.plot_rosenbrock_steps([-0.5, 1.0], 200.0)
    inset = ax.step_inset
    assert inset is not None
    ax.figure.canvas.draw()
    x0 = np.array([-0.5, 1.0])
    for name in ("prox, pullback ρ", "natural gradient, G = JᵀJ"):
        p0, p1 = inset.transData.transform([x0, ends[name]])
        assert np.linalg.norm(p1 - p0) > 12, name
    marker = {ln.get_label(): ln for ln in inset.lines}
    assert marker["prox, pullback ρ"].get_markerfacecolor() == "none"
    for name, c in gw.metrics.STEP_COLORS.items():
        main = {ln.get_label(): ln for ln in ax.lines}
        line = main.get(name, main.get(f"{name} (leaves the window)"))
        assert matplotlib.colors.same_color(line.get_markeredgecolor(), c), name
    plt.close("all")
    ax, _ = gw.plot_rosenbrock_steps([-0.5, 1.0], 10.0)   # every step long enough: no inset
    assert ax.step_inset is None
    plt.close("all")
