"""Lab 1, attention maps (seeds 000 and 003): notebooks/01_attention_maps.ipynb."""

from labkit.exercises import Exercise
from labkit.exercises import attention_maps as ex
from labkit.labs import _validate as v
from labkit.labs._checks import Context, records, runs
from labkit.labs._spec import PROFILES, Check, Lab, Param
from labkit.labs.golden import EXACT, Result, close
from labkit.labs.shared import common_params

REQUIRED_METHODS = ["saliency", "smoothgrad", "guided_backprop", "rectified_backprop", "gradcam", "gradcam_guided",
                    "gradcam_rectified", "gradcam++"]  # the seeds' methods: a submission must compute each

PARAMS = (
    *common_params("01_attention_maps",
                   "seeds Keras, NumPy, SmoothGrad's noise, tie-breaking and the randomised layers",
                   "auto: VGG16 if its weights are on disk, else the offline efficientnet_lite0"),
    Param("photos", ["chelsea", "coffee", "camera", "stereo_motorcycle"], "bundled photo names or image paths",
          v.items("photos", v.photo("photos"))),
    Param("targets", "top1", '"top1" (each image\'s own top-1 class), one class for all ("goose", 99), or one per '
          "image"),
    Param("methods", "all", '"all", or a list of names from labkit.attribution.METHODS'),
    Param("n_images", None, "how many of `photos` to use; None: the profile's (quick 2, standard 4)",
          v.integer("n_images"), sized=True),
    Param("smooth_samples", None, "SmoothGrad samples; None: the profile's (standard 20, tf-keras-vis' default)",
          v.integer("smooth_samples"), sized=True, capped=True),
    Param("smooth_noise", 0.2, "SmoothGrad noise as a fraction of the value range (tf-keras-vis' default)",
          v.number("smooth_noise", allow_zero=True)),
    Param("penultimate_layer", None, "layer name for the CAM methods; None: the last spatial, non-pooling layer"),
    Param("scorecam_max_n", None, "Faster-Score-CAM channels (0: every channel); None: the profile's",
          v.integer("scorecam_max_n", 0), sized=True, capped=True),
    Param("deletion_steps", None, "steps of the deletion/insertion curves; None: the profile's",
          v.integer("deletion_steps"), sized=True, capped=True),
    Param("mosaic_targets", None, "photos to find in 2x2 mosaics, one mosaic each; None: the profile's",
          v.items("mosaic_targets", v.photo("mosaic_targets")), sized=True),
    Param("mosaic_fillers", ["rocket", "astronaut", "grace_hopper"], "photos for the other three tiles",
          v.items("mosaic_fillers", v.photo("mosaic_fillers"))),
    Param("randomise_layers", None, "list of k: re-initialise the top k weighted layers, one check per k; None: the "
          "profile's", v.items("randomise_layers", v.integer("randomise_layers")), sized=True),
)

MOSAIC = ["chelsea", "coffee", "camera", "stereo_motorcycle"]
PROFILE_SIZES = {  # scorecam_max_n 0: every channel (plain Score-CAM)
    "quick": {"n_images": 2, "smooth_samples": 4, "scorecam_max_n": 8, "deletion_steps": 5,
              "mosaic_targets": ["chelsea", "coffee"], "randomise_layers": [4]},
    "standard": {"n_images": 4, "smooth_samples": 20, "scorecam_max_n": 32, "deletion_steps": 16,
                 "mosaic_targets": MOSAIC, "randomise_layers": [1, 4, 12]},
    "full": {"n_images": 4, "smooth_samples": 20, "scorecam_max_n": 0, "deletion_steps": 50,
             "mosaic_targets": MOSAIC, "randomise_layers": [1, 2, 4, 8, 16]},
}
assert set(PROFILE_SIZES) == set(PROFILES)


def prepare(p: dict) -> dict:
    """The methods' canonical names, the photos used and their target classes (None: each photo's top-1)."""
    from labkit import attribution, imagenet
    from labkit.errors import LabkitError

    method_names = attribution.check_methods(p["methods"])
    target_spec = None if p["targets"] == "top1" else imagenet.targets(p["targets"], len(p["photos"]))
    if len(p["mosaic_fillers"]) != 3 or set(p["mosaic_targets"]) & set(p["mosaic_fillers"]):
        raise LabkitError("give three mosaic_fillers and at least one mosaic target that is not a filler")
    n = p["n_images"]
    return {"photos": p["photos"][:n], "target_spec": None if target_spec is None else target_spec[:n],
            "method_names": method_names}


# -- grading -----------------------------------------------------------------------------------------------

def computes_the_seeds_methods(ctx: Context) -> tuple[bool, str]:
    table = ctx.results.get("faithfulness") or {}
    found: set[str] = set()
    for key, value in table.items() if isinstance(table, dict) else []:
        found.add(str(key))
        if isinstance(value, dict):
            found.update(map(str, value))
    missing = [m for m in REQUIRED_METHODS if m not in found]
    return not missing, f"methods not computed: {', '.join(missing)}"


# -- results, and how the golden check compares them ------------------------------------------------------
# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh):
PROB = close(abs=2e-3, why="a forward pass")  # moved < 1e-5
MAP_SCORE = close(abs=0.02, why="scores of gradient maps: pixel ranks of near-equal map values reorder")
RANK_CHANGE = close(abs=0.05, why="1 - Spearman of maps on a randomised model")

RESULTS = (
    Result("model_parameters", "the model's parameter count"),
    Result("top5", "per photo, the five most probable classes as [index, name, probability]",
           {"*.*.0": EXACT, "*.*.1": EXACT, "*.*.2": PROB}),
    Result("targets", "the class explained for each photo (its top-1, or the one asked for)"),
    Result("target_probability", "per photo, the model's probability for the explained class", PROB),
    Result("score_function_max_difference", "largest difference of the maps from CategoricalScore and the "
           "per-image score function (0: the same)", close(abs=1e-4)),
    Result("gradcam_rule_difference", "largest difference of guided and rectified Grad-CAM from vanilla Grad-CAM",
           close(abs=0.01)),
    Result("relu_layers_after_cam_layer", "ReLU-family layers between the CAM layer and the output"),
    Result("rectified_modifier_difference", "largest difference of the rectified-backprop map through the "
           "student's modifier (tf-keras-vis) from labkit's compiled rule", close(abs=1e-3)),
    Result("gradcam_rule_layer", "a layer where the backprop rules change Grad-CAM, and the largest difference "
           "of guided and rectified Grad-CAM from vanilla there", {"layer": EXACT, "difference_from_vanilla.*":
                                                                   close(abs=0.02)}),
    Result("identical_pairs", "method pairs whose maps differ by less than 1e-4 on this model"),
    Result("faithfulness", "per method: deletion AUC, insertion AUC and their difference", MAP_SCORE),
    Result("mosaic_share", "per mosaic and method: share of the map's mass in the target tile", MAP_SCORE),
    Result("mosaic_target_probability", "per mosaic: the probability of the explained class", PROB),
    Result("mosaic_gradcam_at_least_half", "mosaics where Grad-CAM puts at least half its mass on the target"),
    Result("randomisation_change", "per k and method: 1 - Spearman between the maps before and after "
           "re-initialising the top k weighted layers", RANK_CHANGE),
    Result("randomised_layers", "per k: the re-initialised layers"),
    Result("summary", "per method: faithfulness, localisation, sensitivity, and whether it passes all three",
           {"ins_minus_del.*": MAP_SCORE, "mosaic_share.*": MAP_SCORE, "randomised_change.*": RANK_CHANGE}),
    Result("passing_methods", "methods that pass all three checks, most faithful first"),
)

LAB = Lab(1, "01_attention_maps", "Attention maps, answered with numbers", params=PARAMS, profiles=PROFILE_SIZES,
          results=RESULTS, prepare=prepare,
          checks=(Check("runs", 2, runs), Check("results", 0, records("faithfulness")),
                  Check("methods", 0, computes_the_seeds_methods)),
          exercises=(
              Exercise("1.1", "a score function per image", 2, ("score_function",), ex.ScoreFunction(),
                       reference=("labkit.scores:per_image_score",)),
              Exercise("1.2", "the rectified rule as a tf-keras-vis model modifier", 3,
                       ("RectifiedBackpropagation",), ex.Rectified(),
                       reference=("labkit.modifiers:RectifiedBackpropagation", "labkit.modifiers:backprop_modifiers",
                                  "labkit.attribution.tf_keras_vis:modified_model")),
              Exercise("1.3", "Grad-CAM from the CAM layer's activations and gradients", 3, ("gradcam_from",),
                       ex.GradcamFrom(), reference=("labkit.attribution._core:_cam",)),
              Exercise("1.4", "why do vanilla, guided and rectified Grad-CAM agree, or differ, at a CAM layer?", 2),
              Exercise("1.5", "which map is most faithful, and does the computed ranking agree with what you see?", 2),
          ))
