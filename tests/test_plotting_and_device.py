import numpy as np
import pytest

from labkit import LabkitError, plotting
from labkit.device import device_line


def test_device_line_names_tf_and_gpus():
    line = device_line()
    assert line.startswith("TensorFlow 2.") and ("CPU only" in line or "GPU" in line)


def test_grids_and_attribution_views_save_png(tmp_path):
    imgs = [np.full((16, 16, 3), v, np.uint8) for v in (0, 128)]
    maps = {"a": [np.random.rand(16, 16)] * 2, "b": [np.random.rand(16, 16, 3)] * 2}
    for name, fig in {
        "grid": plotting.image_grid(imgs, ["x", "y"]),
        "overlay": plotting.overlay_grid(imgs, maps, ["x", "y"]),
        "attr": plotting.show_attribution(np.random.randn(16, 16, 3), imgs[1], "blended_heat_map", "all"),
    }.items():
        path = plotting.save_png(fig, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))


def test_show_saves_once_and_closes_the_figure(tmp_path):
    import matplotlib.pyplot as plt

    imgs = np.zeros((2, 16, 16, 3), np.uint8)
    fig = plotting.overlay_grid(imgs, {"a": np.random.rand(2, 4, 4)}, ["x", "y"])  # a map smaller than its image
    assert plotting.show(fig, tmp_path / "sub" / "grid.png") is None  # nothing echoed under a notebook cell
    path = tmp_path / "sub" / "grid.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(fig.number)


def test_blend_is_the_alpha_overlay():
    import matplotlib

    heat = np.array([[0.0, 1.0], [0.5, 0.25]])
    colour = matplotlib.colormaps["jet"](heat)[..., :3]
    white = np.full((2, 2, 3), 255, np.uint8)
    np.testing.assert_allclose(plotting.blend(white, heat, alpha=0.25), 0.75 + 0.25 * colour, atol=1e-6)
    np.testing.assert_allclose(plotting.blend(None, heat), colour, atol=1e-6)


def test_attribution_scale_clips_outliers():
    """Captum's scale: divided by the top ``outlier_perc`` percentile, not by the maximum, then clipped. One
    outlier of 100 among 1s: the 1s reach the full scale (1.0), the outlier is clipped to 1, a 0.5 stays 0.5."""
    a = np.ones((10, 10))
    a[0, 0], a[1, 1] = 100.0, 0.5
    s = plotting.attribution_scale(a, "positive", outlier_perc=2)
    assert s[0, 0] == 1.0  # clipped: unclipped it would be 100
    assert s[2, 2] == 1.0 and s[1, 1] == 0.5  # divided by the 98th percentile (1), not by the maximum (100)


def test_bad_view_arguments():
    with pytest.raises(LabkitError, match="unknown sign"):
        plotting.show_attribution(np.zeros((4, 4)), sign="both")
    with pytest.raises(LabkitError, match="needs the image"):
        plotting.show_attribution(np.zeros((4, 4)), method="blended_heat_map")
