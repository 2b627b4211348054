"""Lab 1's attention maps: every method alive and distinct, the reference engine's clone, bad input."""

import itertools

import keras
import numpy as np
import pytest

from labkit import LabkitError, images, models, scores
from labkit import attribution as A
from labkit.testing import assert_close

X32 = images.fit_batch(["chelsea", "coffee"], 32)
OPTS = {"smooth_samples": 4, "scorecam_max_n": 8, "progress": False}


def _vgg_like(size=32):
    """VGG's shape in miniature: conv blocks, max-pool, flatten, two ReLU dense layers, softmax."""
    L = keras.layers
    init = keras.initializers.HeNormal(seed=0)
    inputs = keras.Input((size, size, 3))
    x = L.Rescaling(1 / 127.5, -1)(inputs)
    x = L.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init, name="block1_conv1")(x)
    x = L.MaxPooling2D(name="block1_pool")(x)
    x = L.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init, name="block2_conv1")(x)
    x = L.MaxPooling2D(name="block2_pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(32, activation="relu", kernel_initializer=init, name="fc1")(x)
    x = L.Dense(32, activation="relu", kernel_initializer=init, name="fc2")(x)
    out = L.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, out, name="vgg_like")


def _assert_distinct_and_alive(maps, allowed_equal=()):
    for name, m in maps.items():
        assert m.shape == (2, 32, 32) and np.isfinite(m).all(), name
        for i in range(len(m)):
            assert m[i].max() > 0, f"{name}: all-zero map for image {i}"
            assert np.ptp(m[i]) > 1e-3, f"{name}: constant map for image {i}"
    for a, b in itertools.combinations(maps, 2):
        if {a, b} in [set(p) for p in allowed_equal]:
            continue
        assert np.abs(maps[a] - maps[b]).max() > 1e-3, f"{a} and {b} give the same maps"


@pytest.mark.parametrize("net", ["tiny_relu", "tiny_relu6"])
def test_every_method_gives_its_own_living_map(net, request):
    """No method may silently return an all-zero, constant, or another method's map.

    CAM layer ``conv2`` is followed by ReLU layers, so every backprop rule and CAM weighting matters.
    """
    model = request.getfixturevalue(net)
    maps = A.attention_maps(model, X32, [1, 2], "all", layer="conv2", **OPTS)
    assert list(maps) == list(A.METHODS)
    _assert_distinct_and_alive(maps)


def test_vgg_like_default_layer_and_distinct_maps():
    model = _vgg_like()
    assert A.default_cam_layer(model) == "block2_conv1"  # VGG16: block5_conv3, as the seeds' layer -1
    maps = A.attention_maps(model, X32, [3, 4], "all", **OPTS)
    _assert_distinct_and_alive(maps)


def test_gap_head_makes_known_pairs_identical(tiny_relu6):
    """CAM layer -> global average pooling -> Dense: the gradient at the CAM layer is constant over
    space and meets no ReLU, so the backprop rule cannot change Grad-CAM, and Grad-CAM++ reduces to Layer-CAM."""
    assert A.default_cam_layer(tiny_relu6) == "conv3"
    maps = A.attention_maps(tiny_relu6, X32, [1, 2], ["gradcam", "gradcam_guided", "gradcam++", "layercam"], **OPTS)
    np.testing.assert_allclose(maps["gradcam_guided"], maps["gradcam"], atol=1e-6)
    np.testing.assert_allclose(maps["gradcam++"], maps["layercam"], atol=1e-4)  # float rounding
    assert np.abs(maps["gradcam"] - maps["layercam"]).max() > 1e-3


def test_single_method_helpers_match_attention_maps(tiny_relu):
    both = A.attention_maps(tiny_relu, X32, "goose", ["guided_backprop", "gradcam_rectified", "scorecam"], **OPTS)
    np.testing.assert_allclose(A.saliency(tiny_relu, X32, "goose", backprop="guided"), both["guided_backprop"])
    np.testing.assert_allclose(A.gradcam(tiny_relu, X32, 99, backprop="rectified"), both["gradcam_rectified"])
    np.testing.assert_allclose(A.scorecam(tiny_relu, X32, 99, max_n=8), both["scorecam"], atol=1e-6)


def test_smoothgrad_is_seeded_and_leaves_numpy_alone(tiny_relu):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, seed=5)
    assert (np.random.get_state()[1] == before).all()
    np.testing.assert_array_equal(a, A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, seed=5))
    assert np.abs(a - A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, seed=6)).max() > 1e-3


def test_scores_name_the_targets(tiny_relu):
    a = A.attention_maps(tiny_relu, X32, scores.categorical_score("goose", 2), ["saliency"], progress=False)
    b = A.attention_maps(tiny_relu, X32, scores.per_image_score(["goose", 99]), ["saliency"], progress=False)
    np.testing.assert_array_equal(a["saliency"], b["saliency"])
    assert models.target_ids(tiny_relu, scores.per_image_score(["goose", 284]), 2).tolist() == [99, 284]


def test_one_clone_per_model_switches_rules_in_place(tiny_relu6):
    """The cached clone, switched between rules, gives what a fresh tf-keras-vis clone gives."""
    from tf_keras_vis.saliency import Saliency

    from labkit import modifiers

    A.release_clones()
    g = A.modified_model(tiny_relu6, "guided")
    assert A.modified_model(tiny_relu6, "vanilla") is g
    assert g.get_layer("predictions").activation is not tiny_relu6.get_layer("predictions").activation
    score = scores.categorical_score([1, 2], 2)
    for rule in ("guided", "vanilla", "rectified", "guided"):
        ours = Saliency(A.modified_model(tiny_relu6, rule), clone=False)(score, X32, normalize_map=False)
        fresh = Saliency(tiny_relu6, model_modifier=modifiers.backprop_modifiers(rule))(score, X32,
                                                                                        normalize_map=False)
        assert_close(ours, fresh, rel=1e-6, err_msg=rule)  # maps of 5e-6: an absolute 1e-7 was 2% of them
    A.release_clones()
    assert A.modified_model(tiny_relu6, "guided") is not g


@pytest.fixture
def no_heavy_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("heavy work started before the input was checked")

    from labkit.attribution import maps, tf_keras_vis

    for module, name in ((maps, "input_batch"), (maps, "compiled_map"), (tf_keras_vis, "modified_model")):
        monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("kwargs, match", [
    ({"methods": ["gradcam", "gradkam"]}, "unknown attention method.*'gradkam'.*known: saliency"),
    ({"targets": [1, 2, 3]}, "3 targets for 2 images"),
    ({"targets": "gooose"}, r"unknown ImageNet class 'gooose'.*goose \(99\)"),
    ({"layer": "conv9"}, "no layer 'conv9'"),
    ({"layer": "avg_pool"}, "spatial"),
    ({"methods": ["scorecam"], "scorecam_max_n": 99}, r"scorecam_max_n must be in 0\.\.16"),
    ({"methods": ["smoothgrad"], "smooth_samples": 0}, "smooth_samples"),
])
def test_bad_input_fails_before_heavy_work(tiny_relu, no_heavy_work, kwargs, match):
    args = {"targets": [1, 2], "methods": "all", **kwargs}
    with pytest.raises(LabkitError, match=match):
        A.attention_maps(tiny_relu, X32, args.pop("targets"), args.pop("methods"), **args)


def test_aliases_and_unknown_backprop_rule():
    assert A.check_methods(["Gradcam_Plus_Plus", "guided", "gradcam++"]) == ["gradcam++", "guided_backprop"]
    with pytest.raises(LabkitError, match="unknown backprop rule"):
        A.gradcam(None, X32, 1, backprop="deconv")
