import hashlib
import json
import pickle
from pathlib import Path

import keras
import numpy as np
import pytest

from labkit import LabkitError, imagenet, images, models, testing
from labkit.models import weights
from labkit.models.layers import dense_class, with_fast_dense
from labkit.models.lite import lite_package_file
from labkit.testing import assert_close

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("variant", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_reader_matches_torch_checksums(variant):
    """Every tensor equals what torch.load gave (sha256 stored from a torch run)."""
    expected = json.loads((DATA / "lite_tensor_sha256.json").read_text())[variant]
    state = models.read_torch_state_dict(lite_package_file(models.spec(variant)))
    assert set(state) == set(expected)
    got = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16] for k, v in state.items()}
    assert got == expected


def test_lite0_matches_pytorch_reference(lite0):
    """Our Keras rebuild gives PyTorch's probabilities (reference stored from a torch run)."""
    ref = np.load(DATA / "lite_torch_reference.npz")["efficientnet_lite0"]
    x = np.random.RandomState(0).randint(0, 256, (2, 224, 224, 3)).astype(np.float32)
    got = lite0.predict(x, verbose=0)
    assert np.abs(got - ref).max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_lite2_match_pytorch_reference(variant):
    ref = np.load(DATA / "lite_torch_reference.npz")[variant]
    model = models.load_model(variant)
    size = models.input_size(model)
    x = np.random.RandomState(0).randint(0, 256, (2, size, size, 3)).astype(np.float32)
    assert np.abs(model.predict(x, verbose=0) - ref).max() < 1e-5


def test_offline_model_sees_cat_and_espresso(lite0):
    probs = models.predict(lite0, images.load_images(["chelsea", "coffee"]))
    top = imagenet.decode(probs, top=1)
    assert 281 <= top[0][0][0] <= 285, top[0]
    assert top[1][0][0] in (967, 968, 504), top[1]  # espresso, cup, coffee mug


def test_every_model_ends_in_softmax_predictions(lite0, tiny_relu):
    for m in (lite0, tiny_relu):
        last = m.layers[-1]
        assert last.name == "predictions" and last.units in (1000,)
        assert last.activation is keras.activations.softmax
    assert lite0.output_names == ["predictions"]


def test_lite_uses_relu6_activation_layers(lite0):
    acts = [layer for layer in lite0.layers if isinstance(layer, keras.layers.Activation)]
    assert len(acts) > 30 and all(a.activation is keras.activations.relu6 for a in acts)


def test_converted_weights_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    a = models.load_model("efficientnet_lite0")
    cached = list(tmp_path.glob("efficientnet_lite0-*.npz"))
    assert len(cached) == 1
    b = models.load_model("efficientnet_lite0")  # now from the cache
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_unknown_model_lists_known_ones():
    with pytest.raises(LabkitError, match="unknown model 'vgg61'.*vgg16.*efficientnet_lite0"):
        models.load_model("vgg61")


def test_missing_keras_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_try_download", lambda s: None)  # as offline
    with pytest.raises(LabkitError) as err:
        models.load_model("vgg16")
    msg = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in msg and str(tmp_path) in msg
    assert "weights=" in msg and "https://" in msg


def test_download_is_tried_only_when_the_host_answers(tmp_path, monkeypatch, capsys):
    """Offline: no Keras "Downloading data from ..." line before the error; online: Keras fetches the file."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    fetched = []
    monkeypatch.setattr(keras.utils, "get_file", lambda name, url, **kw: fetched.append(url))

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(weights.socket, "create_connection", refuse)
    with pytest.raises(LabkitError, match="vgg16_weights"):
        models.load_model("vgg16")
    assert fetched == [] and capsys.readouterr().out == ""

    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(weights.socket, "create_connection", lambda *args, **kwargs: Connection())
    with pytest.raises(LabkitError, match="vgg16_weights"):  # the stub fetched nothing
        models.load_model("vgg16")
    assert fetched == [models.spec("vgg16").weights_url]


def test_auto_picks_offline_without_vgg_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert models.resolve_auto() == "efficientnet_lite0"
    assert "efficientnet_lite0" in capsys.readouterr().out
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels.h5").write_bytes(b"")
    assert models.resolve_auto(verbose=False) == "vgg16"


def test_keras_app_loads_a_local_weights_file(tmp_path):
    """weights=PATH: save a model's weights, load them into a fresh one."""
    a = models.load_model("mobilenet_v3_small", weights=None)
    path = tmp_path / "mnv3.weights.h5"
    a.save_weights(path)
    b = models.load_model("mobilenet_v3_small", weights=path)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert b.layers[-1].name == "predictions" and models.input_size(b) == 224


def test_weights_file_that_does_not_fit(tmp_path):
    path = tmp_path / "tiny.weights.h5"
    testing.tiny_model().save_weights(path)
    with pytest.raises(LabkitError, match="does not fit mobilenet_v3_small"):
        models.load_model("mobilenet_v3_small", weights=path)


def test_missing_weights_file():
    with pytest.raises(LabkitError, match="not found"):
        models.load_model("efficientnet_lite0", weights="/nonexistent/w.pth")


def test_pth_with_code_is_refused(tmp_path):
    """A pickle that would call os.system is refused before anything runs."""

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}, {"w": Evil()}, []):
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(LabkitError, match="refusing to unpickle (posix|os).system"):
        models.read_torch_state_dict(path)


def test_pth_with_non_tensor_values_is_refused(tmp_path):
    path = tmp_path / "plain.pth"
    with open(path, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}, {"w": [1, 2, 3]}, []):
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(LabkitError, match="tensors"):
        models.read_torch_state_dict(path)


def test_corrupt_pth_is_refused(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(LabkitError, match="not a readable torch weights file"):
        models.load_model("efficientnet_lite0", weights=path)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "builder", "preprocess"), [
    ("resnet50", "ResNet50", "resnet50"),  # Caffe-style BGR mean subtraction, as VGG16/VGG19
    ("densenet121", "DenseNet121", "densenet"),  # torch-style mean/std
])
def test_weights_in_keras_published_layout_load_into_the_registry_model(name, builder, preprocess, tmp_path,
                                                                        monkeypatch):
    """weights="imagenet" reads a file laid out as Keras publishes it (legacy HDF5 of the bare application,
    written here from random weights, since nothing can be downloaded), and the registry model's built-in
    preprocessing equals Keras' ``preprocess_input``: the same probabilities as the bare application."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    base = getattr(keras.applications, builder)(weights=None)
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / models.spec(name).weights_file, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    ours = models.load_model(name)
    x = images.fit_batch(["chelsea", "coffee"], 224).astype(np.float32)
    expected = base.predict(getattr(keras.applications, preprocess).preprocess_input(x.copy()), verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-6)
    assert type(ours.get_layer("predictions")) is dense_class()  # the input gradient that VGG16's fc1 needs
    keras.Model(ours.inputs, ours.layers[-3].output)  # a part of it is a model of its own, as the CAM methods cut


def test_fast_dense_gives_keras_outputs_and_gradients():
    """labkit's ``Dense`` (the Keras applications' classifier layers): Keras' outputs, input gradients and kernel
    gradients, to float32 rounding (1e-6 of each array's largest value: the input gradient, of 4e-2 at most, moved
    by 1.4e-7 of it on AVX-512, where an absolute 1e-9 failed); clones (tf-keras-vis clones models) keep it; other
    inputs take Keras' call."""
    import tensorflow as tf

    inputs = keras.Input((6, 6, 3), name="image")
    hidden = keras.layers.Dense(32, activation="relu", name="fc")(keras.layers.Flatten(name="flatten")(inputs))
    plain = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(hidden))
    fast = with_fast_dense(plain)
    fast.set_weights(plain.get_weights())
    assert [type(layer) is dense_class() for layer in fast.layers] == [False, False, True, True]
    x = tf.random.stateless_uniform((5, 6, 6, 3), seed=(0, 1), maxval=255.0)

    def gradients(model):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(model(x) * tf.range(10, dtype=tf.float32))
        return [score, *tape.gradient(score, [x, *model.trainable_weights])]

    names = ["score", "d/dx", *(w.path for w in plain.trainable_weights)]
    for name, a, b in zip(names, gradients(plain), gradients(fast), strict=True):
        assert_close(b, a, rel=1e-6, err_msg=name)
    assert type(keras.models.clone_model(fast).get_layer("fc")) is dense_class()
    sequence = tf.ones((2, 3, 108))  # not a batch of vectors: Keras' own call
    np.testing.assert_allclose(fast.get_layer("fc")(sequence), plain.get_layer("fc")(sequence), rtol=1e-6)
