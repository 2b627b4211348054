"""Lab 1, attention maps (seeds 000 and 003): notebooks/01_attention_maps.ipynb."""

from labkit.labs._spec import Lab
from labkit.labs.golden import EXACT, Result, close

# Tolerances, sized from the spread measured across numeric paths (scripts/check_portable.sh):
PROB = close(abs=2e-3, why="a forward pass")  # moved < 1e-5
MAP_SCORE = close(abs=0.02, why="scores of gradient maps: pixel ranks of near-equal map values reorder")
RANK_CHANGE = close(abs=0.05, why="1 - Spearman of maps on a randomised model")

LAB = Lab(1, "01_attention_maps", "Attention maps, answered with numbers", results=(
    Result("top5", "per photo, the five most probable classes as [index, name, probability]",
           {"*.*.0": EXACT, "*.*.1": EXACT, "*.*.2": PROB}),
    Result("targets", "the class explained for each photo (its top-1, or the one asked for)"),
    Result("target_probability", "per photo, the model's probability for the explained class", PROB),
    Result("model_parameters", "the model's parameter count"),
    Result("relu_layers_after_cam_layer", "ReLU-family layers between the CAM layer and the output"),
    Result("gradcam_rule_difference", "largest difference of guided and rectified Grad-CAM from vanilla Grad-CAM",
           close(abs=0.01)),
    Result("score_function_max_difference", "largest difference of the maps from CategoricalScore and the "
           "per-image score function (0: the same)", close(abs=1e-4)),
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
))
