"""Lab 3, fooling with noise (seed 002): notebooks/03_noise_fooling.ipynb."""

from labkit.exercises import Exercise
from labkit.exercises import noise_fooling as ex
from labkit.labs import _validate as v
from labkit.labs._checks import probabilities, records, runs
from labkit.labs._spec import PROFILES, Check, Lab, Param
from labkit.labs.golden import EXACT, Result, close
from labkit.labs.shared import common_params

SEED_MODELS = ["vgg16", "resnet50", "densenet121", "inception_v3", "efficientnet_lite0", "efficientnet_lite1",
               "efficientnet_lite2"]


def _noise_kinds(value):
    from labkit import images

    kinds = v.items("noise_kinds", v.choice("noise_kinds", images.NOISE_KINDS))(value)
    return kinds


def _baseline(value):
    from labkit.errors import LabkitError

    if value != "imagenet_mean" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise LabkitError(f"baseline must be 'imagenet_mean' or a pixel value in 0..255, got {value!r}")
    return value


def _output(value):
    from labkit import models

    return models.check_output(value)


def _nt_type(value):
    from labkit import attribution

    return v.choice("nt_type", attribution.NT_TYPES)(value)


PARAMS = (
    *common_params("03_noise_fooling", "seeds the noise images, the photo crops and the noise tunnel",
                   "the model the attributions are computed on; auto: VGG16 if its weights are on disk, else lite0"),
    Param("model_names", None, "models the noise goes through; None: the profile's (standard/full: vgg16, resnet50, "
          "densenet121, inception_v3, efficientnet_lite0/1/2)", v.items("model_names", v.model_name("model_names")),
          sized=True),
    Param("skip_missing_models", None, "a model without weights: True skips it with a printed note, False stops "
          "with one error naming the fix; None: skip only from the profile's list, stop for models you named",
          v.boolean("skip_missing_models", allow_none=True)),
    Param("noise_kinds", ["seed002", "uniform", "gaussian"], "seed002: the article's generator bit for bit "
          "(uint8 wrap-around)", _noise_kinds),
    Param("n_noise", None, "noise images per kind; None: the profile's (quick 16, standard 64, full 1000 as in the "
          "article)", v.integer("n_noise"), sized=True, capped=True),
    Param("n_real", None, "augmented crops of the bundled photos, the in-distribution side of the AUROC; None: the "
          "profile's", v.integer("n_real"), sized=True),
    Param("batch_size", 32, "images per forward pass", v.integer("batch_size")),
    Param("photo", "chelsea", "the real photo the attributions are shown on (bundled name or a file; the article "
          "used a daisy)", v.photo("photo")),
    Param("output", "logit", "what is attributed: logit (what Captum attributed in the article) or probability",
          _output),
    Param("baseline", "imagenet_mean", "IG and occlusion baseline: imagenet_mean (the article's 0 in normalised units) "
          "or a pixel value (0: black)", _baseline),
    Param("ig_steps", None, "Integrated Gradients steps; None: the profile's (standard/full: the article's 200)",
          v.integer("ig_steps"), sized=True, capped=True),
    Param("ig_batch", None, "gradient evaluations per batch (Captum's internal_batch_size); None: the profile's (the "
          "article's 50)", v.integer("ig_batch"), sized=True),
    Param("nt_type", "smoothgrad_sq", "noise tunnel type: smoothgrad, smoothgrad_sq (the article's) or vargrad",
          _nt_type),
    Param("nt_samples", None, "noisy copies in the noise tunnel; None: the profile's (full: the article's 10)",
          v.integer("nt_samples"), sized=True, capped=True),
    Param("nt_steps", None, "IG steps inside the noise tunnel; None: the profile's (full: Captum's default 50, as in "
          "the article)", v.integer("nt_steps"), sized=True, capped=True),
    Param("nt_stdevs", 57.63, "noise tunnel std in pixels (0..255): Captum's default 1.0 on normalised inputs",
          v.number("nt_stdevs", allow_zero=True)),
    Param("occlusion_window", None, "occlusion window side in pixels; None: the profile's (full: the article's 15)",
          v.integer("occlusion_window"), sized=True),
    Param("occlusion_stride", None, "occlusion stride in pixels; None: the profile's (full: the article's 8)",
          v.integer("occlusion_stride"), sized=True),
)

PROFILE_SIZES = {  # full = the seed's scale: 1000 images; IG 200 steps; NoiseTunnel 10 x 50; 15x15/8
    "quick": {"model_names": ["vgg16", "efficientnet_lite0"], "n_noise": 16, "n_real": 8, "ig_steps": 64,
              "ig_batch": 64, "nt_samples": 2, "nt_steps": 8, "occlusion_window": 32, "occlusion_stride": 32},
    "standard": {"model_names": SEED_MODELS, "n_noise": 64, "n_real": 32, "ig_steps": 200, "ig_batch": 50,
                 "nt_samples": 4, "nt_steps": 16, "occlusion_window": 16, "occlusion_stride": 16},
    "full": {"model_names": SEED_MODELS, "n_noise": 1000, "n_real": 256, "ig_steps": 200, "ig_batch": 50,
             "nt_samples": 10, "nt_steps": 50, "occlusion_window": 15, "occlusion_stride": 8},
}
assert set(PROFILE_SIZES) == set(PROFILES)


def prepare(p: dict) -> dict:
    """The models to run (every one's weights checked here, before any loads) and the attribution model."""
    from labkit import confidence, models
    from labkit.errors import LabkitError

    # the profile's list holds models a student may not have; a model named on purpose is wanted
    named = p["model_names"] != PROFILE_SIZES[p["profile"]]["model_names"]
    skip = (not named) if p["skip_missing_models"] is None else p["skip_missing_models"]
    attr_name = models.spec(p["model_name"]).name  # resolves auto
    attr_size = models.spec(attr_name).input_size
    if p["occlusion_stride"] > p["occlusion_window"] or p["occlusion_window"] > attr_size:
        raise LabkitError(f"need occlusion_stride <= occlusion_window <= {attr_size} (the input of {attr_name}), "
                          f"got stride {p['occlusion_stride']}, window {p['occlusion_window']}")
    models.check_weights(attr_name)  # one error naming the fix if the attribution model's weights are missing
    probe_names, skipped = confidence.available_models(p["model_names"], skip_missing=skip)
    return {"skip_missing_models": skip, "attr_name": attr_name, "attr_size": attr_size, "probe_names": probe_names,
            "skipped": skipped}


# -- results, and how the golden check compares them ------------------------------------------------------
# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh). Everything here is
# a forward pass or a sum of gradients: nothing iterates to convergence.
PROB = close(abs=2e-3, why="a forward pass")
ATTRIBUTION = close(abs=0.02, rel=0.02, why="sums of gradients over a path")

RESULTS = (
    Result("pixel_stats", "per noise kind: pixel mean, std, share of 0 or 255, distance from uniform",
           close(rel=1e-9, why="NumPy on seeded integers")),
    Result("seed_noise_matches", "whether the student's seed002 generator gives labkit's bytes", EXACT),
    Result("confidence_stats_difference", "largest difference of the student's confidence statistics from "
           "describe()", close(abs=1e-6)),
    Result("occlusion_difference", "largest difference of the student's occlusion map of the photo from labkit's, "
           "as a share of its range", close(abs=1e-3)),
    Result("confidence", "per noise kind and model: describe() of the top-1 confidence",
           {"*.count": EXACT, "*": PROB}),
    Result("photo_confidence", "per model: describe() of the top-1 confidence on the photo crops",
           {"*.count": EXACT, "*": PROB}),
    Result("label_counts", "per noise kind and model: the 20 most frequent labels and their counts"),
    Result("noise_kinds", "per model and noise kind: mean and max confidence, labels, the top label and its share",
           {"*.mean_confidence": PROB, "*.max_confidence": PROB, "*.top_share": close(abs=1e-9)}),
    Result("auroc", "per noise kind and model: AUROC of max softmax, photo crops against noise", PROB),
    Result("fpr95", "per noise kind and model: share of noise passing the threshold that keeps 95% of the photos",
           close(abs=1e-9, why="a share of counted images")),
    Result("attribution_targets", "per attributed image: the top-1 class and its probability",
           {"*.probability": PROB}),
    Result("ig_completeness", "per image: IG's sum, f(x) - f(baseline), their difference and relative error",
           {"*.n_steps": EXACT, "*": ATTRIBUTION}),
    Result("attribution_concentration", "per image and method: share of |attribution| in the top 10% of pixels",
           ATTRIBUTION),
)

LAB = Lab(3, "03_noise_fooling", "Fooling with noise: statistics, IG, noise tunnel, occlusion", params=PARAMS,
          profiles=PROFILE_SIZES, results=RESULTS, prepare=prepare,
          checks=(Check("runs", 2, runs), Check("results", 0, records("confidence", "auroc")),
                  Check("confidence", 0, probabilities("confidence", skip=("count",))),
                  Check("auroc", 0, probabilities("auroc"))),
          exercises=(
              Exercise("3.1", "the article's noise generator, with its uint8 wrap-around", 2, ("seed_noise",),
                       ex.SeedNoise(), reference=("labkit.images:seed002_noise",)),
              Exercise("3.2", "the article's confidence statistics", 2, ("confidence_stats",), ex.ConfidenceStats(),
                       reference=("labkit.confidence:confidence_table",)),
              Exercise("3.3", "occlusion's sliding window", 3, ("occlusion_map",), ex.Occlusion(),
                       reference=("labkit.attribution.occlusion:occlusion",
                                  "labkit.attribution.occlusion:occlusion_windows")),
              Exercise("3.4", "why is the article's Gaussian noise close to uniform, and does it matter?", 2),
              Exercise("3.5", "is a confidence threshold a defence against noise?", 2),
          ))
