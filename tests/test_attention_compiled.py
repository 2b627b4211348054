"""labkit.attribution's compiled maps against tf-keras-vis (eager, the reference): every method and backprop rule,
the same maps."""

import gc

import numpy as np
import pytest

from labkit import LabkitError, images, models, testing
from labkit import attribution as A
from labkit.models import cache
from labkit.testing import assert_close

TOL = 1e-4  # max |compiled - tf-keras-vis| of the normalised maps
X32 = images.fit_batch(["chelsea", "coffee"], 32)
OPTS = {"smooth_samples": 3, "scorecam_max_n": 8, "progress": False}


def _both(model, x, ids, methods="all", **options):
    kw = {**OPTS, **options}
    return (A.attention_maps(model, x, ids, methods, engine="compiled", **kw),
            A.attention_maps(model, x, ids, methods, engine="tf-keras-vis", **kw))


def _assert_same(compiled, reference, method):
    assert compiled.shape == reference.shape and compiled.dtype == np.float32, method
    assert_close(compiled, reference, rel=TOL, scale=1.0, err_msg=method)  # maps in 0..1


@pytest.fixture(scope="module")
def tiny_maps(tiny_relu, tiny_relu6):
    """CAM layer ``conv2``: ReLU layers follow it, so the guided and rectified rules change every CAM."""
    return {name: _both(model, X32, [1, 2], layer="conv2")
            for name, model in {"relu": tiny_relu, "relu6": tiny_relu6}.items()}


@pytest.fixture(scope="module")
def lite0_maps(lite0):
    x = images.fit_batch(["chelsea", "coffee"], 224)
    top1 = models.predict(lite0, x).argmax(1).tolist()
    return _both(lite0, x, top1, smooth_samples=2, scorecam_max_n=4)


@pytest.mark.parametrize("method", list(A.METHODS))
@pytest.mark.parametrize("net", ["relu", "relu6"])
def test_tiny_models_match_tf_keras_vis(tiny_maps, net, method):
    compiled, reference = tiny_maps[net]
    _assert_same(compiled[method], reference[method], method)


@pytest.mark.slow  # ~45 s on 2 shared cores with its fixture: ten lite0 graphs to trace, tf-keras-vis eager
@pytest.mark.parametrize("method", list(A.METHODS))
def test_lite0_matches_tf_keras_vis(lite0_maps, method):
    compiled, reference = lite0_maps
    assert compiled[method].shape == (2, 224, 224)
    _assert_same(compiled[method], reference[method], method)


@pytest.mark.parametrize("net", ["relu", "relu6"])
def test_guided_gradcam_alone_is_one_pass_and_the_same_map(tiny_maps, tiny_relu, tiny_relu6, net, monkeypatch):
    """Alone, Guided Grad-CAM is one call of the rule maps' trace under the guided rule, whose layers above the CAM
    layer also run under the vanilla rule (``conv2``: the ReLUs above it make guided and vanilla differ there);
    the same map as tf-keras-vis' product of two."""
    model = {"relu": tiny_relu, "relu6": tiny_relu6}[net]
    reference = tiny_maps[net][1]["guided_gradcam"]
    A.release(model)
    alone = A.attention_maps(model, X32, [1, 2], ["guided_gradcam"], layer="conv2", progress=False)
    _assert_same(alone["guided_gradcam"], reference, "guided_gradcam")
    assert set(A.functions(model)) == {("rule_maps", "any", "conv2")}  # the trace every other map uses
    fn = A.functions(model)[("rule_maps", "any", "conv2")]
    from labkit.attribution._utils import rule_index

    calls, traced = [], fn.function
    monkeypatch.setattr(fn, "function", lambda *args: calls.append(args[2]) or traced(*args))
    _assert_same(A.guided_gradcam(model, X32, [1, 2], "conv2"), reference, "guided_gradcam")
    assert calls == [rule_index("guided")]  # one forward+backward


def test_guided_gradcam_where_a_connection_skips_the_cam_layer():
    """``b``'s output is added to ``a``'s: the model cannot be cut at ``b``, so a vanilla pass of its own gives the
    Grad-CAM (and ``attention_maps`` multiplies the two maps it has)."""
    import keras

    from labkit.attribution._core import rule_maps_function
    from labkit.attribution._utils import rule_index

    inputs = keras.Input((32, 32, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b")(a)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(pooled))
    both = A.attention_maps(model, X32, [1, 2], ["guided_backprop", "gradcam", "guided_gradcam"],
                            layer="b", progress=False, engine="tf-keras-vis")
    _assert_same(A.guided_gradcam(model, X32, [1, 2], "b"), both["guided_gradcam"], "guided_gradcam")
    compiled = A.attention_maps(model, X32, [1, 2], ["guided_gradcam"], layer="b", progress=False)
    _assert_same(compiled["guided_gradcam"], both["guided_gradcam"], "guided_gradcam")
    guided = rule_maps_function(model, "guided", "b")(X32, np.int32([1, 2]), rule_index("guided"))
    assert "vanilla_gradcam" not in guided


def test_relu6_passes_no_gradient_above_six():
    """Under the vanilla rule ReLU6's gradient is 0 above 6 and below 0, as ReLU6's own: at the pixels of a model
    that starts with a ReLU6 (nothing else in between), and in a tiny ReLU6 CNN whose conv1 (kernel x20) puts a
    good share of its inputs above 6, where the compiled maps equal tf-keras-vis'."""
    import keras
    import tensorflow as tf

    from labkit.attribution._core import rule_maps_function
    from labkit.attribution._utils import rule_index

    inputs = keras.Input((4, 4, 3))
    mixed = keras.layers.Conv2D(2, 1, kernel_initializer="ones", name="mix")(keras.layers.Activation("relu6")(inputs))
    head = keras.layers.Dense(2, activation="softmax", kernel_initializer="ones", name="predictions")
    direct = keras.Model(inputs, head(keras.layers.GlobalAveragePooling2D()(mixed)))
    x = np.linspace(-3.1, 9.9, 48, dtype=np.float32).reshape(1, 4, 4, 3)  # below 0, inside 0..6, above 6
    grads = rule_maps_function(direct, "vanilla")(x, np.int32([0]), rule_index("vanilla"))["input_gradients"]
    grads = grads.numpy()
    assert (grads[(x > 6) | (x < 0)] == 0).all() and (grads[(x > 0) & (x < 6)] != 0).all()

    model = testing.tiny_model("relu6")
    conv = model.get_layer("conv1")
    kernel, bias = conv.get_weights()
    conv.set_weights([20 * kernel, bias])
    pre = tf.nn.conv2d(keras.Model(model.inputs, conv.input)(X32), conv.kernel, 1, "SAME") + conv.bias
    assert (pre.numpy() > 6).mean() > 0.1  # 17%: the comparison below crosses ReLU6's top for real
    compiled, reference = _both(model, X32, [1, 2], ["saliency", "gradcam"], layer="conv2")
    for method in ("saliency", "gradcam"):
        _assert_same(compiled[method], reference[method], method)


def test_the_comparison_catches_a_wrong_rule(tiny_maps):
    """Guided and rectified maps are far (>> TOL) from vanilla ones: computing a rule as another fails the tests."""
    compiled, reference = tiny_maps["relu6"]
    for a, b in [("saliency", "guided_backprop"), ("saliency", "rectified_backprop"),
                 ("guided_backprop", "rectified_backprop"), ("gradcam", "gradcam_guided"),
                 ("gradcam", "gradcam_rectified"), ("gradcam_guided", "gradcam_rectified")]:
        assert np.abs(compiled[a] - reference[b]).max() > 100 * TOL, (a, b)
    for a, b in [("gradcam", "gradcam++"), ("gradcam", "layercam"), ("gradcam++", "layercam"),
                 ("gradcam", "scorecam"), ("guided_backprop", "guided_gradcam")]:
        assert np.abs(compiled[a] - reference[b]).max() > 100 * TOL, (a, b)


def test_smoothgrad_same_seed_same_draw_as_tf_keras_vis(tiny_relu, monkeypatch):
    """tf-keras-vis draws all noise in one np.random.normal call; smoothgrad_noise(seed) is that draw, bit for bit."""
    drawn, normal = [], np.random.normal

    def record(*args, **kwargs):
        drawn.append(normal(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(np.random, "normal", record)
    ref = A.attention_maps(tiny_relu, X32, [1, 2], ["smoothgrad"], smooth_samples=3, smooth_noise=0.3, seed=7,
                           progress=False, engine="tf-keras-vis")["smoothgrad"]
    monkeypatch.undo()
    assert len(drawn) == 1 and drawn[0].shape == (3, 2, 32, 32, 3)
    np.testing.assert_array_equal(A.smoothgrad_noise(X32, 3, 0.3, seed=7), drawn[0].astype(np.float32))
    other = (X32 * 0.5 + 10).astype(np.float32)  # same shape and seed: the standard normal draw is reused
    spread = (other.max(axis=(1, 2, 3)) - other.min(axis=(1, 2, 3))).reshape(1, 2, 1, 1, 1)
    np.testing.assert_array_equal(A.smoothgrad_noise(other, 3, 0.3, seed=7), np.random.RandomState(7).normal(
        0.0, np.float32(0.3) * spread, (3, *X32.shape)).astype(np.float32))
    np.random.seed(7)
    np.testing.assert_array_equal(A.smoothgrad_noise(X32, 3, 0.3, seed=None), drawn[0].astype(np.float32))
    ours = A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, noise=0.3, seed=7)
    _assert_same(ours, ref, "smoothgrad")
    np.testing.assert_array_equal(ours, A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, noise=0.3, seed=7))
    assert np.abs(ours - A.smoothgrad(tiny_relu, X32, [1, 2], samples=3, noise=0.3, seed=8)).max() > 100 * TOL


def test_smoothgrad_same_noise_as_tf_keras_vis(tiny_relu6, monkeypatch):
    noise = np.random.default_rng(1).normal(0, 40, (5, 2, 32, 32, 3))
    monkeypatch.setattr(np.random, "normal", lambda loc, scale, size: noise)
    ref = A.attention_maps(tiny_relu6, X32, [3, 4], ["smoothgrad"], smooth_samples=5, progress=False,
                           engine="tf-keras-vis")["smoothgrad"]
    monkeypatch.undo()
    ours = A.smoothgrad(tiny_relu6, X32, [3, 4], noise_array=noise)
    _assert_same(ours, ref, "smoothgrad")
    # one compiled call, one sample of both images per forward+backward, or all five at once: the same maps
    for batch_size in (2, 10):
        np.testing.assert_allclose(A.smoothgrad(tiny_relu6, X32, [3, 4], noise_array=noise, batch_size=batch_size),
                                   ours, atol=1e-6)


def test_scorecam_in_chunks_equals_one_batch(tiny_relu):
    one = A.scorecam(tiny_relu, X32, [1, 2], max_n=7, layer="conv2", batch_size=14)
    for batch_size in (3, 5):  # one channel of both images per forward; two, and one left
        np.testing.assert_allclose(A.scorecam(tiny_relu, X32, [1, 2], max_n=7, layer="conv2",
                                                 batch_size=batch_size), one, atol=1e-6)
    every = A.scorecam(tiny_relu, X32, [1, 2], layer="conv2")  # plain Score-CAM: all 16 channels
    ref = A.attention_maps(tiny_relu, X32, [1, 2], ["scorecam"], layer="conv2", progress=False,
                           engine="tf-keras-vis")["scorecam"]
    _assert_same(every, ref, "scorecam")


def test_each_function_is_traced_once_whatever_the_batch(tiny_relu6):
    model = tiny_relu6
    A.release(model)
    A.saliency(model, X32, [1, 2], "guided")
    A.saliency(model, X32[:1], 5, "guided")
    A.smoothgrad(model, X32, [1, 2], samples=2)
    A.smoothgrad(model, X32[:1], 1, samples=5, batch_size=2)
    for kind in (A.gradcam, A.gradcam_plus_plus, A.layercam):
        kind(model, X32, [1, 2], "rectified", "conv2")
        kind(model, np.concatenate([X32, X32]), 3, "rectified", "conv2")
    A.layer_gradients(model, X32, [1, 2], "conv2", "rectified")  # the trace of that rule's maps at that layer
    A.scorecam(model, X32, [1, 2], max_n=4)
    A.scorecam(model, X32[:1], 7, max_n=9, batch_size=3)
    A.saliency(model, X32, [1, 2], "vanilla")
    A.gradcam(model, X32, [1, 2], "guided", "conv2")
    fns = A.functions(model)  # one trace per layer serves saliency, SmoothGrad and every CAM of every rule
    assert set(fns) == {("rule_maps", "any", "conv3"), ("rule_maps", "any", "conv2"), ("scorecam", "vanilla", "conv3")}
    assert {key: f.experimental_get_tracing_count() for key, f in fns.items()} == {key: 1 for key in fns}


def test_rules_stay_in_their_graphs_and_the_model_is_left_alone(tiny_relu6):
    model = tiny_relu6
    before = {layer.name: getattr(layer, "activation", None) for layer in model.layers}
    probs = models.predict(model, X32)
    guided = A.saliency(model, X32, [1, 2], "guided")
    vanilla = A.saliency(model, X32, [1, 2], "vanilla")
    rectified = A.saliency(model, X32, [1, 2], "rectified")
    np.testing.assert_array_equal(A.saliency(model, X32, [1, 2], "guided"), guided)
    assert np.abs(guided - vanilla).max() > 0.1 and np.abs(guided - rectified).max() > 0.1
    assert {layer.name: getattr(layer, "activation", None) for layer in model.layers} == before
    np.testing.assert_array_equal(models.predict(model, X32), probs)  # still softmax: linear only while tracing


def test_cache_holds_models_weakly_and_release_drops_them():
    model = testing.tiny_model("relu", size=16, classes=10)
    A.gradcam(model, X32[:, :16, :16], 1)
    assert A.functions(model)
    A.release(model)
    assert not A.functions(model)
    A.saliency(model, X32[:, :16, :16], 1)
    n = len(cache._ENTRIES)
    del model
    gc.collect()
    assert len(cache._ENTRIES) == n - 1


@pytest.mark.parametrize("call, match", [
    (lambda m: A.saliency(m, X32, 1, "deconv"), "unknown backprop rule"),
    (lambda m: A.gradcam(testing.tiny_model("tanh"), X32, 1, "guided"), "guided rule found no ReLU-family"),
    (lambda m: A.gradcam(m, X32, 1, layer="avg_pool"), "spatial"),
    (lambda m: A.scorecam(m, X32, 1, max_n=17), r"max_n must be in 0\.\.16"),
    (lambda m: A.smoothgrad(m, X32, 1, noise_array=np.zeros((2, 1, 32, 32, 3))), "noise_array must have shape"),
    (lambda m: A.saliency(m, X32, [1, 2000]), "out of range"),
    (lambda m: A.attention_maps(m, X32, 1, ["saliency"], engine="captum"), "unknown engine"),
])
def test_bad_input_is_one_clear_error(tiny_relu, call, match):
    with pytest.raises(LabkitError, match=match):
        call(tiny_relu)
