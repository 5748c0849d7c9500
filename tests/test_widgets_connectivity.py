"""gradtools.widgets.connectivity under Agg: the state drawn is the right one, and the slider redraws."""

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gradtools as gt  # noqa: E402
from gradtools import connectivity as cn  # noqa: E402
from gradtools import widgets as gw  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def setup():
    init, apply = gt.problems.make_mlp([64, 4, 10])
    w0, th, w1 = (jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), init(jax.random.key(i))) for i in range(3))
    x = jax.random.uniform(jax.random.key(5), (12, 64))
    y = jnp.arange(12) % 10
    return apply, w0, th, w1, x, y


def test_path_state_matches_direct_evaluation(setup):
    apply, w0, th, w1, x, y = setup
    loss = cn.classifier_loss(apply)
    t = 0.3
    s = gw.path_state(apply, w0, th, w1, x, y, t)
    line_w = jax.tree_util.tree_map(lambda a, b: (1 - t) * a + t * b, w0, w1)
    curve_w = jax.tree_util.tree_map(lambda a, c, b: (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, w0, th, w1)
    np.testing.assert_allclose(s["line_loss"], loss(line_w, (x, y)), rtol=1e-12)
    np.testing.assert_allclose(s["curve_loss"], loss(curve_w, (x, y)), rtol=1e-12)
    np.testing.assert_array_equal(s["line_pred"], np.argmax(apply(line_w, x), -1))
    np.testing.assert_array_equal(s["curve_pred"], np.argmax(apply(curve_w, x), -1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gw.path_state(apply, w0, th, w1, x, y, 1.5)


def test_plot_path_state_marks_t_and_titles_digits(setup):
    apply, w0, th, w1, x, y = setup
    s = gw.path_state(apply, w0, th, w1, x[:3], y[:3], 0.6)
    ts = np.linspace(0, 1, 5)
    fig = gw.plot_path_state(s, ts, np.ones(5), 2 * np.ones(5), x[:3], y[:3])
    ax = fig.axes[0]
    markers = [ln.get_xydata() for ln in ax.lines if ln.get_marker() == "o"]
    np.testing.assert_allclose(markers, [[[0.6, s["line_loss"]]], [[0.6, s["curve_loss"]]]])
    assert [[t.get_text() for t in a.texts] for a in fig.axes[1:]] == [
        [f"line: {a}", f"curve: {b}"] for a, b in zip(s["line_pred"], s["curve_pred"])]
    # only the network that is wrong on an image is marked red
    for a, lp, cp, yy in zip(fig.axes[1:], s["line_pred"], s["curve_pred"], np.asarray(y[:3])):
        assert [t.get_color() for t in a.texts] == ["C3" if lp != yy else "k", "C3" if cp != yy else "k"]
    # the line and the curve keep the colours they have in the lecture's other figures
    assert [ln.get_color() for ln in ax.lines[:2]] == [gt.plotting.CONNECTIVITY_COLORS["straight line"],
                                                       gt.plotting.CONNECTIVITY_COLORS["Bezier curve"]]


def test_explorer_redraws_on_slider_change(setup):
    apply, w0, th, w1, x, y = setup
    box = gw.connectivity_explorer(apply, w0, th, w1, x, y, x[:4], y[:4], t=0.0, num_points=5)
    assert box.last_drawn == {"t": 0.0} and box.status.value == "t=0"
    np.testing.assert_allclose(box.last_state["line_loss"], box.last_state["curve_loss"], rtol=1e-12)  # both at w0
    box.t_slider.value = 0.5
    assert box.last_drawn == {"t": 0.5} and box.status.value == "t=0.5"
    ref = gw.path_state(apply, w0, th, w1, x, y, 0.5)
    np.testing.assert_allclose(box.last_state["curve_loss"], ref["curve_loss"], rtol=1e-12)
    np.testing.assert_array_equal(box.last_state["line_pred"], ref["line_pred"][:4])
    with pytest.raises(ValueError, match="slider"):
        gw.connectivity_explorer(apply, w0, th, w1, x, y, x[:4], y[:4], t=2.0)
