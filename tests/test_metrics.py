"""Metrics on cases where the answer is known: deletion and insertion, AUC, mosaic mass, randomisation."""

import keras
import numpy as np
import pytest

from labkit import LabkitError, images
from labkit import attribution as A
from labkit import metrics as M
from labkit.metrics.faithfulness import CAFFE_MEAN_RGB

X32 = images.fit_batch(["chelsea", "coffee"], 32)
OPTS = {"smooth_samples": 4, "scorecam_max_n": 8, "progress": False}


# -- metrics on cases where the answer is known -----------------------------------------------

def _linear_model(weights):
    """p(class 0) = sigmoid(sum(weights * pixels) / 1000): the pixels' importance is ``weights``."""
    h, w = weights.shape
    inputs = keras.Input((h, w, 3))
    x = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, out)
    kernel = np.zeros((h * w * 3, 2), np.float32)
    kernel[:, 0] = np.repeat(weights.ravel(), 3) / 1000.0
    model.layers[-1].set_weights([kernel, np.array([-10.0, 0.0], np.float32)])
    return model


def test_deletion_and_insertion_rank_a_perfect_map_above_a_reversed_one():
    rng = np.random.default_rng(0)
    weights = rng.random((8, 8)) ** 3
    model = _linear_model(weights)
    x = np.full((1, 8, 8, 3), 200.0, np.float32)
    perfect, reverse, rand = weights[None], -weights[None], M.random_maps((1, 8, 8), seed=1)
    dele = {k: M.deletion_curve(model, x, m, 0, steps=16, baseline="black") for k, m in
            {"perfect": perfect, "reverse": reverse, "random": rand}.items()}
    f, d = dele["perfect"]
    assert f[0] == 0 and f[-1] == 1 and d.shape == (1, 17)
    full = model.predict(x, verbose=0)[0, 0]
    assert d[0, 0] == pytest.approx(full, rel=1e-5) and d[0, -1] == pytest.approx(1 / (1 + np.exp(10)), rel=1e-4)
    # deleting positive evidence only lowers the probability, up to rounding: a float32 ulp of the largest is
    # 1.2e-7 of it, so 1e-7 absolute sat within one ulp; 1e-6 of it allows 8 ulps, far under a real rise
    assert np.diff(d[0]).max() <= 1e-6 * d[0].max()
    aucs = {k: M.auc(*v)[0] for k, v in dele.items()}
    assert aucs["perfect"] < aucs["random"] < aucs["reverse"]
    ins = {k: M.auc(*M.insertion_curve(model, x, m, 0, steps=16, baseline="black"))[0] for k, m in
           {"perfect": perfect, "reverse": reverse}.items()}
    assert ins["perfect"] > ins["reverse"]


def test_auc_of_known_curves():
    f = np.linspace(0, 1, 5)
    assert M.auc(f, np.ones((1, 5)))[0] == pytest.approx(1.0)
    assert M.auc(f, f[None])[0] == pytest.approx(0.5)


def test_faithfulness_table_scores_identical_maps_once(tiny_relu):
    m = M.random_maps((2, 32, 32), seed=3)
    table, curves = M.faithfulness(tiny_relu, X32, {"a": m, "b": m.copy()}, [1, 2], steps=4, progress=False)
    assert list(table.index) == ["a", "b", "random"]
    assert table.loc["a"].tolist() == table.loc["b"].tolist()
    assert curves["a"]["deletion"].shape == (2, 5)
    with pytest.raises(LabkitError, match="unknown baseline"):
        M.faithfulness(tiny_relu, X32, {"a": m}, [1, 2], deletion_baseline="white")
    with pytest.raises(LabkitError, match="steps must be an integer >= 1"):
        M.faithfulness(tiny_relu, X32, {"a": m}, [1, 2], steps=0)


def test_every_step_of_every_curve_is_the_probability_of_its_image(tiny_relu):
    """The table's curves, whose first and last steps are predicted once for all maps, equal each step's image
    predicted on its own (deletion from the image to gray, insertion from blur to the image), in one and in
    many steps."""
    maps = {"a": M.random_maps((2, 32, 32), seed=3), "b": M.random_maps((2, 32, 32), seed=4)}
    x, ids = X32, np.array([1, 2])
    own = lambda b: tiny_relu.predict(b, verbose=0)[np.arange(2), ids]  # noqa: E731
    for steps in (1, 4):
        _, curves = M.faithfulness(tiny_relu, x, maps, ids, steps=steps, progress=False)
        for name, m in maps.items():
            ranks = M.importance_ranks(m, seed=0)
            for kind, start, end in (("deletion", x, M.fill_images(x, "gray")),
                                     ("insertion", M.fill_images(x, "blur"), x)):
                curve = curves[name][kind]
                assert curve.shape == (2, steps + 1)
                for k, count in enumerate(np.rint(np.linspace(0, 32 * 32, steps + 1)).astype(int)):
                    step = np.where((ranks < count)[..., None], end, start)
                    np.testing.assert_allclose(curve[:, k], own(step), atol=1e-6, err_msg=f"{name} {kind} {k}")


def test_deletion_fills():
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    assert M.fill_images(x, "black").max() == 0
    np.testing.assert_allclose(M.fill_images(x, "gray")[0, 0, 0], CAFFE_MEAN_RGB, rtol=1e-6)
    np.testing.assert_allclose(M.fill_images(x, "mean")[0, 5, 5], x[0].mean(axis=(0, 1)), rtol=1e-5)
    assert M.fill_images(x, "blur").std() < 0.5 * x.std()


def test_tile_mass_of_known_maps():
    m = np.zeros((1, 32, 32))
    m[0, 16:, 16:] = 1.0  # all mass in the bottom-right tile
    assert M.tile_mass(m, 3).tolist() == [1.0] and M.tile_mass(m, 0).tolist() == [0.0]
    assert M.tile_mass(np.ones((32, 32)), 2)[0] == pytest.approx(0.25)
    assert np.isnan(M.tile_mass(np.zeros((32, 32)), 1)[0])
    with pytest.raises(LabkitError, match="tile must be in 0..3"):
        M.tile_mass(m, 4)


def test_gradcam_finds_the_cat_in_a_mosaic(lite0):
    """Chelsea in the top-left tile, three other photos around: most of Grad-CAM's mass is on the cat."""
    mosaic = images.mosaic(["chelsea", "rocket", "grace_hopper", "camera"], 224)[None]
    cam = A.gradcam(lite0, mosaic, "Egyptian cat")
    assert M.tile_mass(cam, 0)[0] > 0.5


# -- model randomisation ------------------------------------------------------------------------

def test_randomize_top_layers_touches_only_the_top(tiny_relu):
    assert M.weighted_layers(tiny_relu) == ["conv1", "conv2", "conv3", "predictions"]
    r = M.randomize_top_layers(tiny_relu, 2, seed=1)
    for name in ("conv1", "conv2"):
        for a, b in zip(tiny_relu.get_layer(name).get_weights(), r.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for name in ("conv3", "predictions"):
        old, new = tiny_relu.get_layer(name).get_weights()[0], r.get_layer(name).get_weights()[0]
        assert not np.allclose(old, new) and new.std() == pytest.approx(old.std(), rel=0.1)
    again = M.randomize_top_layers(tiny_relu, 2, seed=1)
    np.testing.assert_array_equal(again.get_layer("conv3").get_weights()[0], r.get_layer("conv3").get_weights()[0])
    with pytest.raises(LabkitError, match=r"k must be in 1\.\.4"):
        M.randomize_top_layers(tiny_relu, 5)


def test_map_change_of_known_pairs():
    m = np.random.default_rng(0).random((2, 16, 16))
    np.testing.assert_allclose(M.map_change(m, m), 0.0, atol=1e-12)
    np.testing.assert_allclose(M.map_change(m, -m), 2.0, atol=1e-12)
    assert M.map_change(m[:1], np.zeros((1, 16, 16)))[0] == 1.0


def test_map_change_is_one_minus_scipys_spearman_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    a = np.maximum(rng.normal(size=(3, 20, 20)), 0)  # a ReLU'd map: many tied zeros
    b = np.round(a + rng.normal(scale=0.5, size=a.shape), 1)  # ties inside the map too
    expected = [1 - spearmanr(u.ravel(), v.ravel()).statistic for u, v in zip(a, b, strict=True)]
    np.testing.assert_allclose(M.map_change(a, b), expected, atol=1e-12)


def test_randomisation_changes_gradcam_more_than_guided_backprop(tiny_relu):
    changes, after = M.randomisation_check(tiny_relu, X32, [1, 2], ["gradcam", "guided_backprop"], k=1,
                                           progress=False)
    assert set(after) == {"gradcam", "guided_backprop"}
    assert changes["gradcam"] > changes["guided_backprop"]


def test_randomisation_check_in_place_equals_the_clone_and_restores_the_weights(tiny_relu):
    """The compiled engine redraws the top layers in the model itself (no clone, no retrace), then puts them back."""
    weights = [w.copy() for w in tiny_relu.get_weights()]
    names = ["gradcam", "guided_backprop"]
    changes, after = M.randomisation_check(tiny_relu, X32, [1, 2], names, k=2, seed=3, progress=False)
    for a, b in zip(tiny_relu.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    clone = A.attention_maps(M.randomize_top_layers(tiny_relu, 2, seed=3), X32, [1, 2], names, seed=3,
                             progress=False)
    for m in names:
        np.testing.assert_allclose(after[m], clone[m], atol=1e-6)
    assert changes["gradcam"] > 0.1
