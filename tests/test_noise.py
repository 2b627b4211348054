"""Lab 3: Captum-style attributions (Part B of labkit.attribution) and the confidence survey (labkit.confidence).

Known answers on tiny models: IG is exact on a linear model and complete on a smooth one; a model
that crops part of its input away gives that part exactly zero attribution. (The seed-exact noise
generator is pinned in test_images.py.)
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from labkit import LabkitError, attribution, confidence, images
from labkit.models import weights
from labkit.testing import assert_close

RNG = np.random.RandomState(0)
X = RNG.randint(0, 256, (2, 32, 32, 3)).astype(np.float32)


def _head(x, classes=10, scale=1.0):
    init = keras.initializers.GlorotUniform(seed=0)
    out = keras.layers.Dense(classes, activation="softmax", kernel_initializer=init, name="predictions")(x)
    return out


@pytest.fixture(scope="module")
def linear():
    """Logits linear in the pixels: logit_t = sum(w_t * x) + b_t."""
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, _head(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))))
    return model


@pytest.fixture(scope="module")
def smooth(tiny_tanh10):
    return tiny_tanh10


@pytest.fixture(scope="module")
def left_half():
    """A model that only sees the left 16 of 32 columns: Cropping2D drops the right half."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Cropping2D(((0, 0), (0, 16)))(x)
    x = keras.layers.Conv2D(8, 3, activation="tanh", kernel_initializer=keras.initializers.HeNormal(seed=1))(x)
    return keras.Model(inputs, _head(keras.layers.GlobalAveragePooling2D()(x)))


# -- integrated gradients ------------------------------------------------------------------------

def test_ig_is_exact_on_a_linear_model(linear):
    x = RNG.randint(0, 256, (3, 8, 8, 3)).astype(np.float32)
    w = linear.layers[-1].get_weights()[0]  # (192, 10), on pixels / 255
    for method in attribution.IG_METHODS:
        attr = attribution.integrated_gradients(linear, x, targets=4, baseline=10.0, steps=3, method=method,
                                                progress=False)
        expected = (x - 10.0) * w[:, 4].reshape(8, 8, 3) / 255
        np.testing.assert_allclose(attr, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("output", ["logit", "probability"])
def test_ig_completeness_on_a_smooth_model(smooth, output):
    attr = attribution.integrated_gradients(smooth, X, targets=None, steps=50, internal_batch_size=13,
                                            output=output, progress=False)
    check = attribution.ig_completeness(smooth, X, attr, targets=None, output=output)
    assert np.all(np.abs(check["difference"]) > 1e-3)  # a real difference to explain
    assert check["relative_error"].max() < 1e-3, check
    # the quadrature matters: 3 Riemann steps leave a visible error, 50 Gauss-Legendre ones do not
    coarse = attribution.integrated_gradients(smooth, X, None, steps=3, method="riemann_right",
                                              output=output, progress=False)
    assert attribution.ig_completeness(smooth, X, coarse, output=output)["relative_error"].max() > 1e-3


def test_ig_internal_batch_size_does_not_change_the_result(smooth):
    a = attribution.integrated_gradients(smooth, X, 3, steps=20, internal_batch_size=None, progress=False)
    b = attribution.integrated_gradients(smooth, X, 3, steps=20, internal_batch_size=7, progress=False)
    assert_close(a, b, rel=1e-6)  # the same sums in other batches


def test_ig_baselines_name_colour_and_image(smooth):
    a = attribution.integrated_gradients(smooth, X[:1], 1, baseline="imagenet_mean", steps=8, progress=False)
    b = attribution.integrated_gradients(smooth, X[:1], 1, baseline=attribution.IMAGENET_MEAN_PIXEL, steps=8,
                                         progress=False)
    np.testing.assert_array_equal(a, b)
    c = attribution.integrated_gradients(smooth, X[:1], 1, baseline=X[0], steps=8, progress=False)
    assert not c.any()  # baseline == input: nothing to attribute


def _nothing(a, scale) -> bool:
    """No attribution beyond float rounding: occlusion's f(x) - f(occluded) of two batches that differ in an
    ignored pixel can differ in the last bit (oneDNN sums a batch in its own order): 3.7e-9 seen."""
    return np.abs(a).max() <= 1e-6 * np.abs(scale).max()


def test_ignored_region_gets_zero_attribution(left_half):
    ig = attribution.integrated_gradients(left_half, X, None, steps=16, progress=False)
    assert not ig[:, :, 16:].any() and np.abs(ig[:, :, :16]).sum() > 0
    occ = attribution.occlusion(left_half, X, None, window=8, strides=8, progress=False)  # windows never straddle
    assert _nothing(occ[:, :, 16:], occ) and np.abs(occ[:, :, :16]).sum() > 0
    occ = attribution.occlusion(left_half, X, None, window=8, strides=4, progress=False)
    assert _nothing(occ[:, :, 20:], occ)  # every window covering columns >= 20 lies in the ignored half
    assert np.abs(occ[:, :, 16:20]).max() > 1e-3 * np.abs(occ).max()  # windows straddling the border share it


def test_occlusion_known_answer_on_a_linear_model(linear):
    """1x1 windows, baseline 0: each pixel's attribution is its own term of the logit, sum_c w_c x_c."""
    x = RNG.randint(0, 256, (1, 8, 8, 3)).astype(np.float32)
    w = linear.layers[-1].get_weights()[0][:, 2].reshape(8, 8, 3) / 255
    attr = attribution.occlusion(linear, x, 2, window=1, strides=1, batch_size=10, progress=False)
    expected = (w * x[0]).sum(-1)
    np.testing.assert_allclose(attr[0, ..., 0], expected, rtol=1e-3, atol=1e-5)
    assert np.array_equal(attr[..., 0], attr[..., 2])  # one value for all channels of a pixel


def test_occlusion_windows_follow_captum():
    wins = attribution.occlusion_windows((224, 224), 15, 8)
    assert len(wins) == 28 * 28  # ceil((224 - 15) / 8) + 1 per axis
    assert wins[-1] == (216, 224, 216, 224)  # the last window is cut at the border
    cover = np.zeros((224, 224))
    for t, b, left, r in wins:
        cover[t:b, left:r] += 1
    assert cover.min() >= 1


# -- noise tunnel ----------------------------------------------------------------------------------

def test_noise_tunnel_types(smooth):
    ig = attribution.integrated_gradients
    kw = {"steps": 8, "progress": False}
    plain = ig(smooth, X, 2, **kw)
    same = attribution.noise_tunnel(ig, "smoothgrad", nt_samples=3, stdevs=0.0)(smooth, X, 2, **kw)
    assert_close(same, plain, rel=1e-6)  # no noise: the mean is the method
    sq = attribution.noise_tunnel(ig, "smoothgrad_sq", nt_samples=4, stdevs=30.0, seed=1)(smooth, X, 2, **kw)
    var = attribution.noise_tunnel(ig, "vargrad", nt_samples=4, stdevs=30.0, seed=1)(smooth, X, 2, **kw)
    sg = attribution.noise_tunnel(ig, "smoothgrad", nt_samples=4, stdevs=30.0, seed=1)(smooth, X, 2, **kw)
    assert sq.min() >= 0 and var.min() >= 0 and var.max() > 0
    np.testing.assert_allclose(var, sq - sg.astype(np.float64) ** 2, rtol=1e-3, atol=1e-6)  # var = E[a^2] - E[a]^2
    again = attribution.noise_tunnel(ig, "smoothgrad", nt_samples=4, stdevs=30.0, seed=1)(smooth, X, 2, **kw)
    np.testing.assert_array_equal(sg, again)  # seeded
    other = attribution.noise_tunnel(ig, "smoothgrad", nt_samples=4, stdevs=30.0, seed=2)(smooth, X, 2, **kw)
    assert not np.allclose(sg, other)


def test_bad_attribution_input_is_one_clear_error(smooth):
    ig = attribution.integrated_gradients
    with pytest.raises(LabkitError, match="nt_type"):
        attribution.noise_tunnel(ig, "smoothgrad_cubed")
    with pytest.raises(LabkitError, match="steps must be an integer >= 1"):
        ig(smooth, X, 1, steps=0)
    with pytest.raises(LabkitError, match="out of range"):
        ig(smooth, X, 50, steps=4)
    with pytest.raises(LabkitError, match="baseline"):
        ig(smooth, X, 1, baseline=np.zeros((5, 5, 3)))
    with pytest.raises(LabkitError, match="integration method"):
        ig(smooth, X, 1, method="simpson")
    with pytest.raises(LabkitError, match="output"):
        attribution.occlusion(smooth, X, 1, output="energy")
    with pytest.raises(LabkitError, match="larger than the image"):
        attribution.occlusion(smooth, X, 1, window=40)


# -- confidence -------------------------------------------------------------------------------------

def test_auroc_known_cases():
    assert confidence.auroc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0  # perfect separation
    assert confidence.auroc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    assert confidence.auroc([0.5] * 4, [0.5] * 3) == 0.5  # identical scores
    same = np.random.RandomState(1).rand(200)
    assert confidence.auroc(same, same) == 0.5
    assert confidence.auroc([0.2, 0.6, 0.8], [0.1, 0.4, 0.6]) == pytest.approx(6.5 / 9)  # a tie counts half
    with pytest.raises(LabkitError, match="at least one"):
        confidence.auroc([], [0.1])


def test_fpr_at_tpr():
    real = np.arange(1, 101) / 100  # 0.01 .. 1.00; keeping 95% of them: threshold 0.06
    assert confidence.fpr_at_tpr(real, [0.05, 0.06, 0.5, 0.9]) == 0.75
    assert confidence.fpr_at_tpr(real, [0.0, 0.01]) == 0.0


def test_top1_tables_match_unbatched_predictions(smooth):
    noise = images.noise("uniform", 10, size=confidence.source_size(32), seed=3)
    table = confidence.top1(smooth, noise, batch_size=4, progress=False)
    x = images.fit_batch(noise, 32, "center")
    p = smooth.predict(x, batch_size=1, verbose=0)
    np.testing.assert_array_equal(table["label"], p.argmax(1))
    np.testing.assert_allclose(table["confidence"], p.max(1), rtol=1e-5)
    counts = confidence.label_counts(table)
    assert counts.sum() == 10 and counts.is_monotonic_decreasing
    assert counts.index[0].endswith(f"({counts.index[0].split('(')[-1]}")
    stats = confidence.confidence_table({"a": table, "b": table})
    assert list(stats.columns) == ["a", "b"] and stats.loc["count", "a"] == 10
    share = confidence.label_share({"a": table}, top=2)
    assert share.shape == (1, min(2, len(counts))) and share.to_numpy().sum() <= 1.0


def test_center_fit_is_the_seed_transform():
    """Resize(256) + CenterCrop(224) on the seed's 256x256 noise: a plain crop of the middle."""
    assert [confidence.source_size(s) for s in (224, 240, 260, 299)] == [256, 274, 297, 342]
    noise = images.seed002_noise(2, seed=5)
    np.testing.assert_array_equal(images.fit_batch(noise, 224, "center"), noise[:, 16:240, 16:240])
    assert images.fit(noise[0], 299, "center").shape == (299, 299, 3)


def test_random_crops_are_seeded():
    a = images.random_crops(["chelsea", "coffee"], 3, size=48, seed=4)
    np.testing.assert_array_equal(a, images.random_crops(["chelsea", "coffee"], 3, size=48, seed=4))
    assert a.shape == (3, 48, 48, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, images.random_crops(["chelsea", "coffee"], 3, size=48, seed=5))


def test_missing_model_is_one_error_or_a_visible_skip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_try_download", lambda s: None)  # as offline
    with pytest.raises(LabkitError) as err:
        confidence.available_models(["vgg16", "lite0", "resnet50"])
    msg = str(err.value)
    assert "vgg16, resnet50" in msg and "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in msg
    assert str(tmp_path) in msg and "skip_missing_models = True" in msg
    kept, skipped = confidence.available_models(["vgg16", "lite0", "resnet50"], skip_missing=True)
    assert kept == ["efficientnet_lite0"] and list(skipped) == ["vgg16", "resnet50"]
    out = capsys.readouterr().out
    assert "NOTE: skipping vgg16" in out and "NOTE: skipping resnet50" in out
    with pytest.raises(LabkitError, match="no model left"):
        confidence.available_models(["vgg16"], skip_missing=True)
    with pytest.raises(LabkitError, match="unknown model"):
        confidence.available_models(["lite0", "alexnet"], skip_missing=True)


@pytest.mark.slow
def test_ig_completeness_on_the_offline_model_with_the_seed_steps(lite0):
    """Acceptance: IG (200 steps, as the seed) on a real photo explains f(x) - f(baseline) within 5%."""
    photo = images.fit_batch(["chelsea"], 224)
    attr = attribution.integrated_gradients(lite0, photo, None, baseline="imagenet_mean", steps=200,
                                            internal_batch_size=50, progress=False)
    check = attribution.ig_completeness(lite0, photo, attr, None, baseline="imagenet_mean")
    assert check["relative_error"][0] < 0.05, check


def test_lab3_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from labkit import plotting

    fig = plotting.histograms({"seed002": {"a": [0.1, 0.2], "b": [0.3]}, "photos": {"a": [0.9]}}, range_=(0, 1))
    assert len(fig.axes) == 2
    fig = plotting.heat_table(pd.DataFrame([[0.5, 1.0]], index=["m"], columns=["x", "y"]), vmin=0.5, vmax=1)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.50", "1.00"]
    attr = np.random.RandomState(0).randn(2, 8, 8, 3)
    fig = plotting.attribution_grid(list(X[:2, :8, :8]), {"IG": attr, "occlusion": attr}, ["photo", "noise"])
    assert len([ax for ax in fig.axes if ax.images]) == 6  # 2 rows x (image + 2 maps); colour bars extra
    with pytest.raises(LabkitError, match="attributions for 2 images"):
        plotting.attribution_grid(list(X[:2]), {"IG": attr[:1]})
    with pytest.raises(LabkitError, match="non-empty"):
        plotting.heat_table(pd.DataFrame())
    plt.close("all")


def test_lab3_stops_for_a_named_model_without_weights(tmp_path):
    """A model named in model_names without weights: ``labkit run`` rejects the lab before it starts, and the
    notebook run by itself stops in its setup cell, with one error naming the file and the opt-in skip (the
    profile's own list skips with a note instead)."""
    import subprocess
    import sys

    import papermill

    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}  # no weights there (and no network here)
    named = ["efficientnet_lite0", "densenet121"]
    run = subprocess.run([sys.executable, "-m", "labkit", "run", "03", "--profile", "quick", "--out", str(tmp_path),
                          "-p", f"model_names={named}"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "03_noise_fooling: rejected" in run.stdout or "03_noise_fooling: not run" in run.stdout, run.stdout
    assert "densenet121_weights" in run.stdout and "skip_missing_models = True" in run.stdout
    assert not (tmp_path / "03_noise_fooling.ipynb").exists()
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "03_noise_fooling.ipynb"
    os.environ["KERAS_HOME"], saved = str(tmp_path / "keras"), os.environ.get("KERAS_HOME")
    try:
        with pytest.raises(papermill.PapermillExecutionError, match="densenet121_weights"):
            papermill.execute_notebook(str(notebook), str(tmp_path / "direct.ipynb"), progress_bar=False,
                                       parameters={"profile": "quick", "model_names": named,
                                                   "out_dir": str(tmp_path / "out")}, kernel_name="python3")
    finally:
        os.environ.pop("KERAS_HOME") if saved is None else os.environ.update(KERAS_HOME=saved)
    assert not (tmp_path / "out" / "results.json").exists()  # stopped before anything was written
