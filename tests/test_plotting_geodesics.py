"""gradtools.plotting.geodesics under Agg: what is drawn matches independent computations."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gradtools import plotting as gp  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_sinusoid_paths_drawn_in_weight_and_output_space():
    p = np.array([[1.0, 0.0], [1.2, 0.5], [0.8, 1.4]])
    fig = gp.plot_sinusoid_paths({"path": p})
    aw, az = fig.axes
    line_w = [ln for ln in aw.lines if ln.get_label() == "path"][0]
    np.testing.assert_allclose(line_w.get_xydata(), p[:, ::-1])  # (phi, r)
    line_z = [ln for ln in az.lines if ln.get_label() == "path"][0]
    z = np.stack([p[:, 0] * np.cos(p[:, 1]), p[:, 0] * np.sin(p[:, 1])], -1) / np.sqrt(2)  # by hand
    np.testing.assert_allclose(line_z.get_xydata(), z, rtol=1e-12)
    assert any(ln.get_marker() == "x" for ln in az.lines)  # the singular origin
    with pytest.raises(ValueError, match="num_points, 2"):
        gp.plot_sinusoid_paths({"bad": np.zeros((3, 3))})
    fig2, axes = plt.subplots(1, 2)
    assert gp.plot_sinusoid_paths({"path": p}, axes=axes) is fig2


def test_one_colour_per_object_and_coinciding_paths_stay_visible():
    p = np.array([[1.0, 0.0], [1.2, 0.5], [0.8, 1.4]])
    fig = gp.plot_sinusoid_paths({"geodesic (shooting)": p, "geodesic (min. energy)": p, "straight line in w": p[::-1]})
    for ax in fig.axes:
        lines = {ln.get_label(): ln for ln in ax.lines if not ln.get_label().startswith("_")}
        shot, mini, line = lines["geodesic (shooting)"], lines["geodesic (min. energy)"], lines["straight line in w"]
        assert shot.get_color() == mini.get_color() == gp.COLORS["geodesic"]
        assert line.get_color() == gp.COLORS["straight line"]
        assert (shot.get_linestyle(), shot.get_marker()) != (mini.get_linestyle(), mini.get_marker())
        assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 3  # both panels
    ax = gp.plot_segment_speeds({"straight line": [0.1, 0.3], "discrete geodesic": [0.2, 0.2]})
    assert [ln.get_color() for ln in ax.lines] == [gp.COLORS["straight line"], gp.COLORS["geodesic"]]


def test_segment_speeds():
    ax = gp.plot_segment_speeds({"a": [0.1, 0.3], "b": [0.2, 0.2]})
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0.5, 0.1], [1.5, 0.3]])
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"]
    with pytest.raises(ValueError, match="1-D"):
        gp.plot_segment_speeds({"a": np.zeros((2, 2))})


def test_sparsity_accuracy():
    ax = gp.plot_sparsity_accuracy({"FIP": ([0.5, 0.85], [97.0, 96.0])}, reference=97.5)
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[50.0, 97.0], [85.0, 96.0]])
    assert ax.lines[-1].get_ydata()[0] == 97.5
    assert "target sparsity" in ax.get_xlabel()
    ax = gp.plot_sparsity_accuracy({"FIP": ([0.5, 0.8], [97.0, 96.0])}, after={"final prune": (0.8, 95.0)})
    star = [ln for ln in ax.lines if ln.get_label() == "final prune"][0]
    np.testing.assert_allclose(star.get_xydata(), [[80.0, 95.0]])
    with pytest.raises(ValueError, match="equal length"):
        gp.plot_sparsity_accuracy({"FIP": ([0.5], [97.0, 96.0])})


def test_task_accuracies():
    ax = gp.plot_task_accuracies({"FIP": ([99.0, 98.0, 97.0], [10.0, 50.0, 90.0])})
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == ["FIP: task 1", "FIP: task 2"]
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[1, 10.0], [2, 50.0], [3, 90.0]])
    assert ax.lines[0].get_color() == ax.lines[1].get_color()
    with pytest.raises(ValueError, match="equal length"):
        gp.plot_task_accuracies({"FIP": ([1.0], [1.0, 2.0])})
