"""Attribution: which pixels a classifier's decision rests on.

Where each idea lives (one file per method family, as tf-keras-vis; shared pieces apart, as Captum):

- ``methods``: lab 1's method names, their backprop rules, the CAM layer and a layer where the rules differ;
- ``maps``: ``attention_maps``, every method on a batch by either engine;
- ``saliency``, ``gradcam``, ``scorecam``: the compiled maps (vanilla / guided / rectified saliency,
  SmoothGrad; Grad-CAM, Grad-CAM++, Layer-CAM, Guided Grad-CAM; Faster-Score-CAM), equal to tf-keras-vis'
  within 1e-4 at ~1x a compiled forward+backward; ``_core``: the gradient engine saliency and the CAMs share
  (one forward+backward of a rule gives every gradient map); ``_utils``: their cache, rules while tracing,
  post-processing (the rules' names are ``labkit.modifiers.RULES``);
- ``tf_keras_vis``: the reference engine, tf-keras-vis itself on one modified clone;
- ``integrated_gradients``, ``noise_tunnel``, ``occlusion``: Captum's methods for Keras (lab 3);
- ``baselines``: what "no information" is for IG and occlusion.

The metrics that score maps (faithfulness, localisation, randomisation) are in ``labkit.metrics``.
"""

from labkit.attribution._utils import functions, release
from labkit.attribution.baselines import IMAGENET_MEAN_PIXEL, baseline_batch
from labkit.attribution.gradcam import (
    gradcam,
    gradcam_plus_plus,
    guided_gradcam,
    layer_gradients,
    layercam,
    renormalize,
    upsample_cam,
)
from labkit.attribution.integrated_gradients import IG_METHODS, ig_completeness, ig_points, integrated_gradients
from labkit.attribution.maps import attention_maps, compiled_map
from labkit.attribution.methods import ENGINES, METHODS, cam_layer, check_methods, default_cam_layer, rule_layer
from labkit.attribution.noise_tunnel import CAPTUM_STDEVS, NT_TYPES, noise_tunnel
from labkit.attribution.occlusion import occlusion, occlusion_windows
from labkit.attribution.saliency import saliency, smoothgrad, smoothgrad_noise
from labkit.attribution.scorecam import scorecam
from labkit.attribution.tf_keras_vis import modified_model, release_clones

__all__ = ["CAPTUM_STDEVS", "ENGINES", "IG_METHODS", "IMAGENET_MEAN_PIXEL", "METHODS", "NT_TYPES", "attention_maps",
           "baseline_batch", "cam_layer", "check_methods", "compiled_map", "default_cam_layer", "functions",
           "gradcam", "gradcam_plus_plus", "guided_gradcam", "ig_completeness", "ig_points", "integrated_gradients",
           "layer_gradients", "layercam", "modified_model", "noise_tunnel", "occlusion", "occlusion_windows", "release",
           "release_clones", "renormalize", "rule_layer", "saliency", "scorecam", "smoothgrad", "smoothgrad_noise",
           "upsample_cam"]
