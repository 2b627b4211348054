"""tf-keras-vis scores from class names or indices."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tf_keras_vis.utils.scores import CategoricalScore

from labkit import imagenet
from labkit.deprecation import renamed


@renamed(target="targets")
def categorical_score(targets: int | str | Sequence[int | str], n: int) -> CategoricalScore:
    """A ``CategoricalScore``: one target for all ``n`` images, or one per image, by name or index."""
    return CategoricalScore(imagenet.targets(targets, n))


def per_image_score(targets: Sequence[int | str]) -> Callable:
    """Seed 000's hand-written score function: ``output[i][target_i]`` for each image ``i``."""
    ids = [imagenet.index(t) for t in targets]

    def score(output):
        return tuple(output[i][t] for i, t in enumerate(ids))

    score.targets = ids
    return score
