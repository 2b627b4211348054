"""Metrics that score attention maps, apart from the methods (as Captum's ``captum.metrics``).

- ``faithfulness``: deletion and insertion curves, their AUC, the random-map reference (RISE);
- ``localisation``: the map's mass in a mosaic's target tile; how concentrated an attribution is;
- ``randomisation``: Adebayo et al.'s sanity check, maps before and after re-initialising the top layers.
"""

from labkit.metrics.faithfulness import (
    FILLS,
    auc,
    deletion_curve,
    faithfulness,
    fill_images,
    importance_ranks,
    insertion_curve,
    random_maps,
)
from labkit.metrics.localisation import concentration, tile_mass
from labkit.metrics.randomisation import map_change, randomisation_check, randomize_top_layers, weighted_layers

__all__ = ["FILLS", "auc", "concentration", "deletion_curve", "faithfulness", "fill_images", "importance_ranks",
           "insertion_curve", "map_change", "random_maps", "randomisation_check", "randomize_top_layers",
           "tile_mass", "weighted_layers"]
