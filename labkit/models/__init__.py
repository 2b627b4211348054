"""ImageNet classifiers: one registry, one loader, one place for weights, one compiled forward.

Every model takes raw RGB pixels in 0..255 at its own input size (preprocessing is its first layer),
is a flat functional ``keras.Model`` (so tf-keras-vis modifiers see every activation) and ends in a
softmax layer named ``predictions`` (so ``ReplaceToLinear`` and ``logits_model`` work).

Where each idea lives:

- ``registry``: the models labkit knows (``REGISTRY``, ``spec``, ``auto``), where their weights live;
- ``preprocessing``: the ``Preprocess`` layer and the ImageNet means;
- ``weights``: ``load_model`` and ``check_weights`` (Keras' cache, a file, or the offline packages);
- ``lite``: the EfficientNet-Lite architecture; ``torch_pickle``: the NumPy reader of its weights;
- ``layers``: ``Dense`` with a fast input gradient, in the Keras applications (VGG16's fc1);
- ``forward``: ``predict``, ``logits_model``, ``input_gradient``, ``target_ids``, input batches, the compiled
  steps' ``batch_signature`` and ``target_score``;
- ``cache``: the per-model cache of compiled functions and clones, and ``release``.
"""

from labkit.models.cache import cached, cached_models, release
from labkit.models.forward import (
    OUTPUTS,
    PREDICT_BATCH,
    batch_signature,
    check_output,
    class_scores,
    compiled_forward,
    input_batch,
    input_gradient,
    input_size,
    logits_model,
    num_classes,
    predict,
    score_gradient,
    target_ids,
    target_score,
)
from labkit.models.lite import build_efficientnet_lite
from labkit.models.preprocessing import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, preprocess_layer
from labkit.models.registry import (
    ALIASES,
    OFFLINE_DEFAULT,
    REGISTRY,
    ModelSpec,
    cache_dir,
    keras_models_dir,
    keras_weights_path,
    resolve_auto,
    spec,
)
from labkit.models.torch_pickle import read_torch_state_dict
from labkit.models.weights import check_weights, load_model

__all__ = ["ALIASES", "CAFFE_MEAN_BGR", "IMAGENET_MEAN", "IMAGENET_STD", "OFFLINE_DEFAULT", "OUTPUTS", "PREDICT_BATCH",
           "REGISTRY", "ModelSpec", "batch_signature", "build_efficientnet_lite", "cache_dir", "cached",
           "cached_models", "check_output", "check_weights", "class_scores", "compiled_forward", "input_batch",
           "input_gradient", "input_size", "keras_models_dir", "keras_weights_path", "load_model", "logits_model",
           "num_classes", "predict", "preprocess_layer", "read_torch_state_dict", "release", "resolve_auto",
           "score_gradient", "spec", "target_ids", "target_score"]
