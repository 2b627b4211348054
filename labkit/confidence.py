"""How confident classifiers are (lab 3): many images through several ImageNet models, in batches; top-1
confidence statistics, label counts, and max softmax as an out-of-distribution (OOD) detector.

Images go in as uint8 at ``source_size(input_size)`` and are fitted batch by batch with
torchvision's evaluation transform (``images.fit(..., "center")``: seed 002's
``Resize(256) + CenterCrop(224)``), so 1000 images never sit in memory as floats.
AUROC is rank-based NumPy (scikit-learn is not a dependency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from labkit.errors import LabkitError, check_int

CROP_PCT = 0.875  # torchvision's 224 / 256


def source_size(input_size: int) -> int:
    """The side images are made at so that the centre crop is the model's input: 256 for 224."""
    return round(input_size / CROP_PCT)


def available_models(names: Sequence[str], skip_missing: bool = False) -> tuple[list[str], dict[str, str]]:
    """Registry names for ``names``, every model's weights checked before any model is loaded.

    A model whose weights are missing: one ``LabkitError`` naming each such model and the fix; with
    ``skip_missing``, it is left out with a printed note. Returns ``(kept, {skipped: first line of why})``.
    """
    from labkit import models

    if isinstance(names, str):
        names = [names]
    if not names:
        raise LabkitError("give at least one model name")
    resolved = list(dict.fromkeys(models.spec(n).name for n in names))  # unknown names fail here
    kept, missing = [], {}
    for name in resolved:
        try:
            models.check_weights(name)
            kept.append(name)
        except LabkitError as exc:
            missing[name] = str(exc)
    if missing and not skip_missing:
        details = "\n".join(f"- {msg}" for msg in missing.values())
        raise LabkitError(f"ImageNet weights are missing for {', '.join(missing)}:\n{details}\n"
                          "Or set skip_missing_models = True to leave these models out (with a note).")
    for name, msg in missing.items():
        print(f"NOTE: skipping {name}: {msg.splitlines()[0]}")
    if not kept:
        raise LabkitError(f"no model left to run: weights are missing for every one of {', '.join(resolved)}")
    return kept, {name: msg.splitlines()[0] for name, msg in missing.items()}


def top1(model, images, batch_size: int = 32, mode: str = "center", progress: bool = True,
         desc: str | None = None) -> pd.DataFrame:
    """Each image's top-1 class and its softmax probability: columns ``label``, ``name``, ``confidence``.

    ``images``: a uint8/float batch, or a list of images; fitted to the model's input batch by batch
    (``mode`` as in ``images.fit``) and classified by the compiled forward step, with a progress bar.
    """
    from tqdm import tqdm

    from labkit import imagenet
    from labkit.images import fit_batch
    from labkit.models import input_size, predict

    check_int("batch_size", batch_size)
    if len(images) == 0:
        raise LabkitError("no images to classify")
    size = input_size(model)
    labels = np.empty(len(images), np.int64)
    conf = np.empty(len(images), np.float64)
    for start in tqdm(range(0, len(images), batch_size), desc=desc or model.name, disable=not progress,
                      leave=False):
        chunk = images[start:start + batch_size]
        p = predict(model, fit_batch(chunk, size, mode), batch_size)
        labels[start:start + len(p)] = p.argmax(1)
        conf[start:start + len(p)] = p.max(1)
    names = [imagenet.name(int(i)) if i < imagenet.NUM_CLASSES else str(i) for i in labels]
    return pd.DataFrame({"label": labels, "name": names, "confidence": conf})


def confidence_table(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The seed's table: ``describe()`` of the top-1 confidence, one column per model."""
    if not frames:
        raise LabkitError("no results to describe")
    return pd.DataFrame({m: f["confidence"].to_numpy() for m, f in frames.items()}).describe()


def label_counts(frame: pd.DataFrame, top: int | None = None) -> pd.Series:
    """How often each top-1 class was given, as ``"name (index)" -> count``, most frequent first."""
    keys = [f"{n} ({i})" for i, n in zip(frame["label"], frame["name"], strict=True)]
    counts = pd.Series(keys, dtype=object).value_counts(sort=False)
    counts = counts.sort_values(ascending=False, kind="stable")  # ties keep first-seen order
    counts.name = "count"
    return counts.head(top) if top else counts


def label_share(frames: Mapping[str, pd.DataFrame], top: int = 3) -> pd.DataFrame:
    """Models x labels: the share of each model's images given each label, over every model's ``top`` labels."""
    counts = {m: label_counts(f) / len(f) for m, f in frames.items()}
    columns = list(dict.fromkeys(k for c in counts.values() for k in c.index[:top]))
    return pd.DataFrame({m: c.reindex(columns).fillna(0.0) for m, c in counts.items()}).T


def kind_summary(frames: Mapping[str, Mapping[str, pd.DataFrame]]) -> pd.DataFrame:
    """One row per (model, image kind): mean/max top-1 confidence, distinct labels, the top label and its share."""
    rows = []
    for kind, per_model in frames.items():
        for model, f in per_model.items():
            counts = label_counts(f)
            rows.append({"model": model, "kind": kind, "mean_confidence": f["confidence"].mean(),
                         "max_confidence": f["confidence"].max(), "labels": len(counts),
                         "top_label": counts.index[0], "top_share": counts.iloc[0] / len(f)})
    return pd.DataFrame(rows).set_index(["model", "kind"]).sort_index(level=0, sort_remaining=False)


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve of a score meant to be higher in-distribution than out of it.

    The Mann-Whitney statistic with average ranks for ties: P(in > out) + P(in = out) / 2.
    1.0: every in-distribution score is above every OOD score; 0.5: no separation.
    """
    a, b = np.asarray(in_scores, np.float64).ravel(), np.asarray(out_scores, np.float64).ravel()
    if not len(a) or not len(b):
        raise LabkitError("AUROC needs at least one in-distribution and one out-of-distribution score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise LabkitError("AUROC needs finite scores")
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")
    ranks = np.empty(len(both))
    sorted_ = both[order]
    # average rank for each run of ties
    starts = np.flatnonzero(np.r_[True, sorted_[1:] != sorted_[:-1]])
    ends = np.r_[starts[1:], len(both)]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each run
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2.0
    return float(u / (len(a) * len(b)))


def fpr_at_tpr(in_scores, out_scores, tpr: float = 0.95) -> float:
    """The share of OOD images a threshold lets through when it keeps ``tpr`` of the in-distribution ones
    (the threshold: the ``ceil(tpr * n)``-th highest in-distribution score; scores at or above it pass)."""
    a, b = np.sort(np.asarray(in_scores, np.float64).ravel())[::-1], np.asarray(out_scores, np.float64)
    if not 0 < tpr <= 1:
        raise LabkitError(f"tpr must be in (0, 1], got {tpr}")
    if not len(a) or not len(b):
        raise LabkitError("fpr_at_tpr needs at least one in-distribution and one out-of-distribution score")
    threshold = a[int(np.ceil(tpr * len(a) - 1e-9)) - 1]
    return float((b >= threshold).mean())


def ood_table(real: Mapping[str, pd.DataFrame], noise: Mapping[str, Mapping[str, pd.DataFrame]],
              metric: str = "auroc") -> pd.DataFrame:
    """Models x noise kinds: max-softmax separating real photos (in) from noise (out).

    ``metric``: ``auroc``, or ``fpr95`` (the share of noise passing a threshold that keeps 95% of photos).
    """
    fn = {"auroc": auroc, "fpr95": fpr_at_tpr}.get(metric)
    if fn is None:
        raise LabkitError(f"unknown metric {metric!r}; auroc or fpr95")
    table = {kind: {m: fn(real[m]["confidence"], f["confidence"]) for m, f in per_model.items() if m in real}
             for kind, per_model in noise.items()}
    return pd.DataFrame(table)
