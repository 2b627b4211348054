"""One line about where TensorFlow runs."""

from __future__ import annotations


def device_line() -> str:
    """TensorFlow version, and the GPU count (tf-keras-vis ``num_of_gpus``) with names, or CPU only."""
    import tensorflow as tf
    from tf_keras_vis.utils import num_of_gpus

    _, gpus = num_of_gpus()
    if not gpus:
        return f"TensorFlow {tf.__version__}, CPU only"
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return f"TensorFlow {tf.__version__}, {gpus} GPU(s): {', '.join(names)}"
