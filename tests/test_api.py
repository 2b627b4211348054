"""labkit's public functions: one argument vocabulary (README, "In Python"), the old names kept for a release with a
DeprecationWarning, and the step cap (LABKIT_MAX_STEPS) on every loop that takes a step count."""

import importlib
import inspect
import sys
import warnings

import numpy as np
import pytest

from labkit import attacks, attribution, confidence, metrics, models, scores
from labkit.deprecation import renamed

X = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.float32)
OLD_NAMES = {"target", "penultimate_layer", "lr", "iterations", "n_steps", "max_iterations", "x0"}
BATCH_HELPERS = {"baseline_batch", "compiled_map", "smoothgrad_noise", "score_gradient"}  # take a checked batch x


def _functions():
    for module in (attribution, attacks, metrics, models, confidence, scores):
        for name in module.__all__ if hasattr(module, "__all__") else dir(module):
            if inspect.isfunction(getattr(module, name)) and not name.startswith("_"):
                yield f"{module.__name__}.{name}", getattr(module, name)


@pytest.mark.parametrize(("name", "function"), list(_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_one_argument_vocabulary(name, function):
    """``images``, ``targets``, ``layer``, ``learning_rate``, ``steps``: no public function takes an old name; ``x``
    only the helpers that take an already checked batch."""
    params = set(inspect.signature(function).parameters)
    assert not params & OLD_NAMES, f"{name}{inspect.signature(function)}"
    assert "x" not in params or name.rsplit(".", 1)[1] in BATCH_HELPERS, name
    for old, new in getattr(function, "renamed_arguments", {}).items():
        assert new in params and old not in params, (name, old, new)


def test_an_old_keyword_warns_and_is_passed_on_under_its_new_name():
    @renamed(lr="learning_rate")
    def step(x, learning_rate=1.0):
        return x * learning_rate

    with pytest.warns(DeprecationWarning, match=r"step\(\): lr= is now called learning_rate="):
        assert step(2, lr=3) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step(2, learning_rate=3) == step(2, 3) == 6  # the new name and positions: no warning
    with pytest.raises(TypeError, match="lr= and learning_rate="):
        step(2, lr=3, learning_rate=3)


def test_the_old_names_the_exercise_checkers_and_notebooks_used_still_work(tiny_tanh10, tiny_relu):
    """What labkit's callers wrote before the renames gives the same results, with a warning."""
    new_fool = attacks.fooling_images(tiny_tanh10, X, [3, 4], learning_rate=0.5, steps=2, progress=False)
    with pytest.warns(DeprecationWarning, match="max_iterations= is now called steps="):
        old_fool = attacks.fooling_images(tiny_tanh10, X, [3, 4], lr=0.5, max_iterations=2, progress=False)
    np.testing.assert_array_equal(old_fool.images, new_fool.images)
    with pytest.warns(DeprecationWarning, match="penultimate_layer= is now called layer="):
        old_cam = attribution.gradcam(tiny_relu, X, target=[1, 2], penultimate_layer="conv2")
    np.testing.assert_array_equal(old_cam, attribution.gradcam(tiny_relu, X, [1, 2], layer="conv2"))
    with pytest.warns(DeprecationWarning, match="n_steps= is now called steps="):
        old_ig = attribution.integrated_gradients(tiny_tanh10, x=X, target=1, n_steps=4, progress=False)
    np.testing.assert_array_equal(old_ig, attribution.integrated_gradients(tiny_tanh10, X, 1, steps=4, progress=False))


def test_labkit_probe_is_labkit_confidence_with_a_warning():
    sys.modules.pop("labkit.probe", None)
    with pytest.warns(DeprecationWarning, match="labkit.probe is now labkit.confidence"):
        probe = importlib.import_module("labkit.probe")
    assert probe is confidence


@pytest.mark.parametrize("loop", ["fooling", "pgd", "class_visualisation", "integrated_gradients", "smoothgrad",
                                  "noise_tunnel", "scorecam", "deletion"])
def test_the_step_cap_caps_every_loop_however_it_is_called(loop, tiny_tanh10, tiny_relu, monkeypatch):
    """``LABKIT_MAX_STEPS=2`` turns 50 steps into 2, called directly as much as through a lab's parameters."""
    def run(steps):
        if loop == "fooling":  # a learning rate too small to reach any target: every step is taken
            return attacks.fooling_images(tiny_tanh10, X, [3, 4], learning_rate=1e-9, steps=steps,
                                          progress=False).iterations
        if loop == "pgd":
            return attacks.pgd(tiny_tanh10, X, [3, 4], steps=steps, early_stop=False, progress=False).iterations
        if loop == "class_visualisation":
            return len(attacks.class_visualisation(tiny_tanh10, 3, steps=steps, max_jitter=0, show_every=1,
                                                   progress=False).probs)
        if loop == "integrated_gradients":
            return attribution.integrated_gradients(tiny_tanh10, X, 1, steps=steps, progress=False)
        if loop == "smoothgrad":
            return attribution.smoothgrad(tiny_relu, X, [1, 2], samples=steps)
        if loop == "noise_tunnel":
            return attribution.noise_tunnel(attribution.occlusion, nt_samples=steps)(tiny_tanh10, X[:1], 1,
                                                                                      window=16, strides=16,
                                                                                      progress=False)
        if loop == "scorecam":  # its masked copies: the channels of the CAM layer
            return attribution.scorecam(tiny_relu, X, [1, 2], max_n=steps, layer="conv2")
        return metrics.deletion_curve(tiny_tanh10, X, np.ones((2, 32, 32)), [3, 4], steps=steps)[0]

    expected = run(2)
    monkeypatch.setenv("LABKIT_MAX_STEPS", "2")
    np.testing.assert_array_equal(run(16 if loop == "scorecam" else 50), expected)  # conv2 has 16 channels


def test_the_cap_shortens_a_loop_and_leaves_it_what_it_is(tiny_tanh10, monkeypatch):
    """A capped PGD is still PGD, a capped trapezoid keeps both ends, and a tunnel takes the cap of its call."""
    monkeypatch.setenv("LABKIT_MAX_STEPS", "1")
    result = attacks.pgd(tiny_tanh10, X, [3, 4], steps=10, step_size=1, early_stop=False, progress=False)
    assert result.method == "pgd" and list(result.iterations) == [1, 1]
    alphas, weights = attribution.ig_points(50, "riemann_trapezoid")
    assert list(alphas) == [0, 1] and weights.sum() == pytest.approx(1)
    sizes = []

    def method(model, images, targets, **kwargs):
        sizes.append(len(images))
        return np.zeros(np.shape(images))

    tunnel = attribution.noise_tunnel(method, nt_samples=3)  # made under the cap, called without it
    monkeypatch.delenv("LABKIT_MAX_STEPS")
    tunnel(tiny_tanh10, X, [3, 4])
    assert sizes == [2 * 3]


def test_assert_close_scales_to_the_values_and_knows_infinities():
    from labkit.testing import assert_close

    assert_close([5e-5, np.inf, np.nan, 0.0], [5e-5 + 1e-12, np.inf, np.nan, 4e-11])  # within 1e-6 of 5e-5
    for wrong in ([6e-5, np.inf, np.nan, 0.0], [5e-5, -np.inf, np.nan, 0.0], [5e-5, np.inf, 0.0, 0.0],
                  [5e-5, np.inf, np.nan]):
        with pytest.raises(AssertionError):
            assert_close(wrong, [5e-5, np.inf, np.nan, 0.0])
