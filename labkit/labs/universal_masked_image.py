"""Lab 4, the universal masked image (seed 001): notebooks/04_universal_masked_image.ipynb."""

from labkit.exercises import Exercise
from labkit.exercises import universal_masked_image as ex
from labkit.labs import _validate as v
from labkit.labs._checks import MODEL_LOCK, Context, model, records, runs
from labkit.labs._spec import PROFILES, Check, Lab, Param
from labkit.labs.golden import EXACT, WORDS, Result, close, ignore
from labkit.labs.shared import common_params


def _mask_kinds(value):
    from labkit import masks

    return v.items("mask_kinds", masks.check_mask_kind)(value)


def _hidden(value):
    from labkit import masks

    return masks.check_hidden(value)


def _optimizer(value):
    from labkit import attacks

    return v.choice("optimizer", list(attacks.UNIVERSAL_LR))(value)


PARAMS = (
    *common_params("04_universal_masked_image",
                   "seeds the random target classes, the starting image and the noise fill",
                   "the model the images are optimised for; auto: VGG16 if its weights are on disk, else lite0"),
    Param("k_values", None, "numbers of masked copies K; None: the profile's (quick [2, 10], standard [2, 10, 18])",
          v.items("k_values", v.integer("k_values", 2)), sized=True),
    Param("mask_kinds", None, '"squares" and/or "stripes"; None: the profile\'s (both)', _mask_kinds, sized=True),
    Param("hidden", "zero", "what a hidden part becomes: zero (black), mean (the image's mean colour) or noise "
          "(fixed, seeded)", _hidden),
    Param("image_size", 64, "side of the universal image in pixels (the talk's 3x64x64); resized to the model's "
          "input", v.integer("image_size", 2)),
    Param("targets", None, "class names or indices, one per part (a run with K parts uses the first K); None: "
          "random, seeded", v.items("targets", v.class_name("targets"), allow_none=True)),
    Param("optimizer", None, "sgd (the talk's) or adam; None: the profile's (adam on a CPU, sgd in full)",
          _optimizer, sized=True),
    Param("learning_rate", None, "in [0, 1] pixel units, as in the talk; None: 0.1 (the talk's, for both "
          "optimisers)", v.optional(v.number("learning_rate"))),
    Param("step_cap", None, "most optimiser steps per image; None: the profile's (the talk: 5000)",
          v.integer("step_cap"), sized=True, capped=True),
    Param("compare_k", None, "K values also run with the other optimiser (SGD vs Adam); None: the profile's",
          v.items("compare_k", v.integer("compare_k", 2), non_empty=False), sized=True),
    Param("compare_kinds", None, "mask kinds of that comparison; None: the profile's",
          v.items("compare_kinds", non_empty=False), sized=True),
    Param("compare_models", None, "more models to optimise for (model x K table); None: the profile's",
          v.items("compare_models", v.model_name("compare_models"), non_empty=False), sized=True),
    Param("transfer_models", None, "models that only re-check the images found (transfer); None: the profile's",
          v.items("transfer_models", v.model_name("transfer_models"), non_empty=False), sized=True),
)

PROFILE_SIZES = {  # the seed: K = 2..62 step 8, SGD lr 0.1, up to 5000 steps, six models
    "quick": {"k_values": [2, 10], "mask_kinds": ["squares", "stripes"], "optimizer": "adam", "step_cap": 80,
              "compare_k": [], "compare_kinds": [], "compare_models": [], "transfer_models": []},
    "standard": {"k_values": [2, 10, 18], "mask_kinds": ["squares", "stripes"], "optimizer": "adam",
                 "step_cap": 200, "compare_k": [2], "compare_kinds": ["stripes"], "compare_models": [],
                 "transfer_models": ["efficientnet_lite1", "efficientnet_lite2"]},
    "full": {"k_values": [2, 10, 18, 26, 34, 42, 50, 58, 62], "mask_kinds": ["squares", "stripes"],
             "optimizer": "sgd", "step_cap": 5000, "compare_k": [2, 10, 18], "compare_kinds": ["squares", "stripes"],
             "compare_models": ["resnet50", "efficientnet_b4", "inception_v3", "mobilenet_v3_small"],
             "transfer_models": ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]},
}
assert set(PROFILE_SIZES) == set(PROFILES)


def prepare(p: dict) -> dict:
    """The runs, in order: (model, K, mask kind, optimiser), each checked (K too large for the mask, over 1000,
    duplicate targets) before any model loads."""
    from labkit import attacks, models
    from labkit.errors import LabkitError

    if not set(p["compare_k"]) <= set(p["k_values"]) or not set(p["compare_kinds"]) <= set(p["mask_kinds"]):
        raise LabkitError(f"compare_k {p['compare_k']} and compare_kinds {p['compare_kinds']} must be among k_values "
                          f"{p['k_values']} and mask_kinds {p['mask_kinds']}")
    targets = p["targets"]
    if targets is not None and len(targets) < max(p["k_values"]):
        raise LabkitError(f"{len(targets)} targets listed, but K goes up to {max(p['k_values'])}: list at least K "
                          "classes")
    main_name = models.spec(p["model_name"]).name  # resolves auto
    opt_names = [main_name] + [models.spec(m).name for m in p["compare_models"] if models.spec(m).name != main_name]
    other = "adam" if p["optimizer"] == "sgd" else "sgd"
    runs_ = []
    for name in opt_names:
        for k in p["k_values"]:
            for kind in p["mask_kinds"]:
                runs_.append((name, k, kind, p["optimizer"]))
                if name == main_name and k in p["compare_k"] and kind in p["compare_kinds"]:
                    runs_.append((name, k, kind, other))
    for _, k, kind, opt in runs_:
        attacks.check_universal_params(k, None if targets is None else targets[:k], mask_kind=kind, hidden=p["hidden"],
                                       size=p["image_size"], optimizer=opt, learning_rate=p["learning_rate"],
                                       steps=p["step_cap"], seed=p["seed"])
    return {"main_name": main_name, "opt_names": opt_names, "other_optimizer": other, "runs": runs_,
            "check_names": [models.spec(m).name for m in p["transfer_models"]],
            "comparing": bool(p["compare_k"] and p["compare_kinds"])}


# -- grading -----------------------------------------------------------------------------------------------

def universal_images_really_hit(ctx: Context) -> tuple[bool, str]:
    """Every universal image recorded at 100% is re-checked by the grader from its saved pixels. Shown, worth 0:
    labkit's own optimiser made these images, not the student's code."""
    from labkit import attacks
    from labkit.errors import LabkitError

    rows = [r for r in ctx.results.get("universal") or [] if isinstance(r, dict) and r.get("success") == 1]
    if not rows:
        return False, "no universal image reached 100% success"
    for r in rows:
        image = ctx.array(r.get("file"))
        if image is None:
            return False, f"universal image file {str(r.get('file'))[:80]!r} is missing or not a plain array"
        try:
            net = model(str(r.get("model")))
            with MODEL_LOCK:
                table = attacks.reclassify_universal(net, image, r.get("targets"), r.get("mask_kind"),
                                                     r.get("hidden", "zero"), noise_seed=r.get("noise_seed", 0))
        except (LabkitError, ValueError, OSError, TypeError) as exc:
            return False, f"a universal image cannot be re-checked: {str(exc)[:200]}"
        if not table.hit.all():
            return False, (f"a universal image: {int((~table.hit).sum())} of {len(table)} masked copies miss their "
                           "target when the grader re-classifies them")
    return True, ""


# -- results, and how the golden check compares them ------------------------------------------------------
# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh). The optimisation
# is chaotic: steps to 100% and the image found move with the numeric path.
STEPS = close(abs=4, rel=0.35, why="steps of a chaotic optimisation")
NORM = close(abs=0.01, rel=0.05, why="norms of the image found, after a chaotic number of steps")

RESULTS = (
    Result("model_parameters", "the model's parameter count"),
    Result("masks", "per mask kind at the largest K: partition, hidden share per copy, largest K",
           close(abs=1e-9, why="geometry")),
    Result("universal", "per run (model, K, mask kind, optimiser): success share, steps to 100%, norms, its file",
           {"*.lr": EXACT, "*.success": EXACT, "*.steps": STEPS, "*.steps_taken": STEPS, "*.relative_norm_diff": NORM,
            "*.seconds": ignore("a timing")}),
    Result("universal_copies", "per mask kind at the largest K: each masked copy's target, predicted class and "
           "probability", {"*.*.probability": ignore("the image found is chaotic (a copy's probability moved "
                                                                   "0.78 -> 0.05 between runs); the hits are "
                                                                   "compared exactly")}),
    Result("masked_loss_difference", "largest difference of the student's masked-copies loss from labkit's, on the "
           "images found", close(abs=1e-4)),
    Result("relative_norms", "per run: four readings of how far the masked copies are from the image", NORM),
    Result("optimizer_comparison", "SGD against Adam: steps and success per K and mask kind",
           {"steps.*": STEPS, "steps_taken.*": STEPS}),
    Result("transfer", "per image and other model: share of its masked copies on target there",
           {"success_here.*": close(abs=0.2), "target_probability.*": close(abs=0.05)}),
    Result("conclusions", "the computed conclusions, as printed", WORDS),
)

MASKS = ("labkit.masks:masks", "labkit.masks:part_map", "labkit.masks:masked_copies")  # labkit's own masks
LAB = Lab(4, "04_universal_masked_image", "The universal masked image", params=PARAMS, profiles=PROFILE_SIZES,
          results=RESULTS, prepare=prepare,
          checks=(Check("runs", 2, runs), Check("results", 0, records("universal")),
                  Check("universal", 0, universal_images_really_hit)),
          exercises=(
              Exercise("4.1", "K horizontal stripes that partition the image", 2, ("stripe_masks",),
                       ex.Masks("stripes"), reference=MASKS),
              Exercise("4.2", "K near-square cells that partition the image", 2, ("square_masks",),
                       ex.Masks("squares"), reference=(*MASKS, "labkit.masks:grid_layout")),
              Exercise("4.3", "the loss over the K masked copies", 3, ("masked_copies_loss",), ex.MaskedLoss(),
                       reference=("labkit.attacks.universal_check:masked_loss", "labkit.masks:apply_masks",
                                  "labkit.masks:masked_copies", "labkit.attacks.universal:universal_step")),
              Exercise("4.4", "why can one image carry K classes?", 2),
              Exercise("4.5", "what does the relative norm difference say about the decision regions?", 2),
          ))
