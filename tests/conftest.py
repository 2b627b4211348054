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
    from labkit import testing

    return testing.tiny_model("relu")


@pytest.fixture(scope="session")
def tiny_relu6():
    from labkit import testing

    return testing.tiny_model("relu6")


@pytest.fixture(scope="session")
def tiny_tanh10():
    """A tiny 10-class tanh CNN whose classes differ clearly (``labkit.testing.tiny_tanh10``)."""
    from labkit import testing

    return testing.tiny_tanh10()
