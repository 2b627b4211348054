"""Shared fixtures: keep TF quiet, seed everything, build real models once per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def lite0():
    """The offline ImageNet model (EfficientNet-Lite0), built once."""
    from labkit import models

    return models.load_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def tiny_relu():
    from labkit import models

    return models.tiny_model("relu")


@pytest.fixture(scope="session")
def tiny_relu6():
    from labkit import models

    return models.tiny_model("relu6")


@pytest.fixture(scope="session")
def tiny_tanh10():
    """A tiny 10-class tanh CNN (relu ones this small are nearly constant) with its head scaled x10, so that
    classes differ clearly and one can reach a high probability."""
    from labkit import models

    model = models.tiny_model("tanh", size=32, classes=10)
    head = model.get_layer("predictions")
    w, b = head.get_weights()
    head.set_weights([10 * w, b])
    return model
