import numpy as np
import pytest
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.utils.model_modifiers import GuidedBackpropagation as TkvGuided

from labkit import LabkitError, modifiers, scores, testing

X = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.float32)


def _maps(model, kind):
    s = Saliency(model, model_modifier=modifiers.backprop_modifiers(kind), clone=True)
    return s(scores.categorical_score([1, 2], 2), X, normalize_map=False)


@pytest.mark.parametrize("net", ["tiny_relu", "tiny_relu6"])
def test_guided_and_rectified_differ_from_vanilla_and_each_other(net, request):
    model = request.getfixturevalue(net)
    v, g, r = (_maps(model, k) for k in ("vanilla", "guided", "rectified"))
    scale = np.abs(v).max()
    assert scale > 0
    assert np.abs(g - v).max() > 0.05 * scale
    assert np.abs(r - v).max() > 0.05 * scale
    assert np.abs(g - r).max() > 0.05 * scale


def test_tf_keras_vis_guided_is_a_no_op_on_relu6_but_ours_is_not(tiny_relu6):
    """The reason labkit's modifiers exist: tf-keras-vis only patches `relu`."""
    s = Saliency(tiny_relu6, model_modifier=[modifiers.ReplaceToLinear(), TkvGuided()], clone=True)
    theirs = s(scores.categorical_score([1, 2], 2), X, normalize_map=False)
    np.testing.assert_allclose(theirs, _maps(tiny_relu6, "vanilla"))
    assert not np.allclose(_maps(tiny_relu6, "guided"), theirs)


def test_modifiers_find_relu6_in_the_offline_model(lite0):
    assert len(modifiers.relu_layers(lite0)) > 30


@pytest.mark.parametrize("modifier", [modifiers.GuidedBackpropagation, modifiers.RectifiedBackpropagation])
def test_modifying_zero_layers_is_an_error(modifier):
    model = testing.tiny_model("tanh")
    with pytest.raises(LabkitError, match="found no ReLU-family activation"):
        Saliency(model, model_modifier=[modifiers.ReplaceToLinear(), modifier()], clone=True)


def test_unknown_backprop_rule():
    with pytest.raises(LabkitError, match="unknown backprop rule"):
        modifiers.backprop_modifiers("deconv")


def test_per_image_score_picks_each_images_target():
    score = scores.per_image_score(["goose", 284])
    out = np.arange(2000).reshape(2, 1000)
    assert score(out) == (99, 1284)
    assert list(scores.categorical_score("goose", 3).indices) == [99, 99, 99]
