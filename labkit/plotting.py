"""Figures: image grids, heat-map overlays (images x methods), a Captum-style attribution view."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from labkit.errors import LabkitError
from labkit.files import atomic_path


def _as_display(img) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[-1] == 3 and a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8) if a.max(initial=0) > 1.0 else a
    return a


def image_grid(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
               cmap: str | None = None, size: float = 3.0, suptitle: str | None = None):
    """Images in a grid with titles; returns the figure."""
    n = len(images)
    if n == 0:
        raise LabkitError("image_grid needs at least one image")
    ncols = min(n, ncols or n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(_as_display(images[k]), cmap=cmap)
            if titles is not None:
                ax.set_title(titles[k], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def normalize_map(m) -> np.ndarray:
    """A map scaled to 0..1 (a constant map becomes all zeros)."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 3:
        m = np.abs(m).max(axis=-1)
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def blend(image, heat, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """``heat`` (0..1) coloured by ``cmap`` over ``image``, as one RGB image in 0..1: what ``imshow(image)`` then
    ``imshow(heat, alpha=alpha)`` draw. ``image=None``: the coloured heat alone."""
    colour = plt.get_cmap(cmap)(np.clip(heat, 0, 1))[..., :3].astype(np.float32)
    if image is None:
        return colour
    return (1 - alpha) * _as_rgb(image) + alpha * colour


def _as_rgb(image) -> np.ndarray:
    shown = _as_display(image)
    rgb = shown / np.float32(255) if shown.dtype == np.uint8 else shown.astype(np.float32)
    return np.repeat(rgb[..., None], 3, axis=-1) if rgb.ndim == 2 else rgb


def _resized(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from scipy.ndimage import zoom

    return a if a.shape[:2] == shape else zoom(a, (shape[0] / a.shape[0], shape[1] / a.shape[1]), order=1)


def overlay_grid(images: Sequence, maps: Mapping[str, Sequence], row_titles: Sequence[str] | None = None,
                 alpha: float = 0.5, cmap: str = "jet", size: float = 2.6, overlay: bool = True):
    """Images (rows) x methods (columns): each method's map over its image (``overlay=False``: the map alone);
    returns the figure, ``size`` inches a row, its titles included.

    The panels are laid out in NumPy and drawn as one picture with the titles above them: 48 separate axes took
    three times as long to make and draw (1.2 s) as the rest."""
    methods = list(maps)
    n = len(images)
    for m in methods:
        if len(maps[m]) != n:
            raise LabkitError(f"method {m!r} has {len(maps[m])} maps for {n} images")
    if n == 0:
        raise LabkitError("overlay_grid needs at least one image")
    ncols = len(methods) + 1
    h, w = _as_rgb(images[0]).shape[:2]
    title, gap = 0.4, 0.04  # inches above each panel for its title; space between columns, a fraction of a panel
    panel = size - title
    band, space = round(h * title / panel), round(w * gap)  # the same, in the panels' pixels
    canvas = np.ones((n * (band + h), ncols * w + (ncols - 1) * space, 3), np.float32)
    fig = plt.figure(figsize=(canvas.shape[1] * panel / h, size * n))
    ax = fig.add_axes((0, 0, 1, 1))
    for i in range(n):
        base = _resized(_as_rgb(images[i]), (h, w))
        top = i * (band + h) + band
        for j in range(ncols):
            left = j * (w + space)
            if j == 0:
                tile, label = base, row_titles[i] if row_titles else "image"
            else:
                m = methods[j - 1]
                heat = _resized(normalize_map(maps[m][i]), (h, w))
                tile, label = blend(base if overlay else None, heat, alpha, cmap), m if i == 0 else None
            canvas[top:top + h, left:left + w] = tile
            if label:
                ax.text(left + w / 2, top - band * 0.1, label, ha="center", va="bottom", fontsize=9 if j == 0 else 10)
    ax.imshow(np.rint(canvas * 255).astype(np.uint8), interpolation="antialiased")
    ax.axis("off")
    return fig


def _signed(attr: np.ndarray, sign: str) -> np.ndarray:
    if sign == "positive":
        return np.maximum(attr, 0)
    if sign == "negative":
        return np.minimum(attr, 0)
    if sign == "absolute_value":
        return np.abs(attr)
    return attr


def attribution_scale(attr, sign: str = "absolute_value", outlier_perc: float = 2.0) -> np.ndarray:
    """Captum's normalisation: sum channels, keep ``sign``, divide by the top ``outlier_perc`` percentile."""
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        a = a.sum(axis=-1)
    a = _signed(a, sign)
    threshold = np.percentile(np.abs(a), 100 - outlier_perc)
    if threshold == 0:
        return np.zeros_like(a)
    return np.clip(a / threshold, -1, 1)


SIGNS = ("positive", "negative", "absolute_value", "all")
METHODS = ("heat_map", "blended_heat_map", "masked_image", "original_image")


def show_attribution(attr, image=None, method: str = "heat_map", sign: str = "absolute_value",
                     outlier_perc: float = 2.0, cmap: str | None = None, alpha: float = 0.5,
                     show_colorbar: bool = True, title: str | None = None, ax=None):
    """One attribution map, in the spirit of Captum's ``visualize_image_attr``; returns the figure.

    ``method``: heat_map / blended_heat_map / masked_image / original_image;
    ``sign``: positive / negative / absolute_value / all.
    """
    if method not in METHODS:
        raise LabkitError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if sign not in SIGNS:
        raise LabkitError(f"unknown sign {sign!r}; one of {', '.join(SIGNS)}")
    if method != "heat_map" and image is None:
        raise LabkitError(f"method {method!r} needs the image")
    fig = ax.figure if ax is not None else plt.figure(figsize=(4, 4))
    ax = ax or fig.add_subplot(1, 1, 1)
    scaled = attribution_scale(attr, sign, outlier_perc)
    default_cmap = {"positive": "Greens", "negative": "Reds", "absolute_value": "Blues", "all": "bwr"}[sign]
    vmin = -1 if sign == "all" else 0
    im = None
    if method == "original_image":
        ax.imshow(_as_display(image))
    elif method == "masked_image":
        ax.imshow((np.asarray(image, np.float64) * np.abs(scaled)[..., None]).astype(np.uint8))
    else:
        if method == "blended_heat_map":
            ax.imshow(np.mean(np.asarray(image, np.float64), axis=-1), cmap="gray")
        im = ax.imshow(scaled, cmap=cmap or default_cmap, vmin=vmin, vmax=1,
                       alpha=alpha if method == "blended_heat_map" else None)
    if show_colorbar and im is not None:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def save_png(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save a figure as PNG, atomically (no half-written file on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path


def show(fig, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save a figure as PNG (``save_png``) and show that PNG in the notebook, then close the figure.

    The figure is drawn once: ``plt.show()`` after saving would draw and encode it a second time (a 4 x 12 grid
    of maps, 1.7 s). Outside IPython it is only saved. Returns nothing, so no path is echoed under the cell.
    """
    path = save_png(fig, path, dpi)
    plt.close(fig)
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is not None:
        display(Image(data=path.read_bytes(), format="png"))


def snapshot_strip(result, names: Sequence[str], size: float = 2.4):
    """A class visualisation's snapshots (``attacks.class_visualisation``): a row per target, a column per
    snapshot, each titled with its step and the target's probability; returns the figure."""
    tiles, titles = [], []
    for j, name in enumerate(names):
        for k, step in enumerate(result.snapshot_steps):
            tiles.append(result.snapshots[k, j])
            titles.append(f"{name}\nstep {step}: p={result.snapshot_probs[k, j]:.2f}")
    return image_grid(tiles, titles, ncols=len(result.snapshot_steps), size=size)


def probability_curves(result, names: Sequence[str], threshold: float):
    """A class visualisation's target probability at every step (a line: each step's jittered input) and at its
    snapshots (dots: the image itself), with ``threshold`` dashed; returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for j, name in enumerate(names):
        (line,) = ax.plot(np.arange(1, len(result.probs) + 1), result.probs[:, j], lw=1, label=name)
        ax.plot(result.snapshot_steps, result.snapshot_probs[:, j], "o", color=line.get_color())
    ax.axhline(threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="step", ylabel="target probability", ylim=(-0.02, 1.02),
           title="target probability (line: jittered input of each step; dots: snapshots)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def line_panels(panels: Mapping[str, Mapping[str, tuple[Sequence, Sequence]]], xlabel: str = "",
                ylabel: str = "", size: float = 4.0):
    """One panel per key of ``panels``; in each, one line per label from its ``(x, y)``; returns the figure."""
    if not panels:
        raise LabkitError("line_panels needs at least one panel")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * 1.3 * len(panels), size), squeeze=False)
    for ax, (title, lines) in zip(axes[0], panels.items(), strict=True):
        for k, (label, (x, y)) in enumerate(lines.items()):
            ax.plot(x, y, label=label, lw=1.5, ls="-" if k < 10 else "--")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def grouped_bars(table, xlabel: str = "", reference: float | None = None, reference_label: str = "",
                 title: str | None = None, size: float = 4.0):
    """Horizontal bars: rows of ``table`` (a DataFrame) on the y-axis, one bar per column;
    an optional vertical ``reference`` line (e.g. chance); returns the figure."""
    import pandas as pd

    df = pd.DataFrame(table)
    if df.empty:
        raise LabkitError("grouped_bars needs a non-empty table")
    fig, ax = plt.subplots(figsize=(size * 1.6, 0.35 * len(df) * max(1, len(df.columns) / 2) + 1.2))
    df.iloc[::-1].plot.barh(ax=ax, width=0.8)
    if reference is not None:
        ax.axvline(reference, color="k", ls="--", lw=1, label=reference_label or None)
    ax.set(xlabel=xlabel, title=title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def histograms(panels: Mapping[str, Mapping[str, Sequence[float]]], bins: int = 30, xlabel: str = "",
               range_: tuple[float, float] | None = None, size: float = 3.6):
    """One panel per key of ``panels``; in each, one step histogram per label of its values; returns the figure."""
    if not panels:
        raise LabkitError("histograms needs at least one panel")
    fig, axes = plt.subplots(1, len(panels), figsize=(size * 1.2 * len(panels), size), squeeze=False, sharey=True)
    for ax, (title, groups) in zip(axes[0], panels.items(), strict=True):
        for label, values in groups.items():
            ax.hist(np.asarray(values, np.float64), bins=bins, range=range_, histtype="step", lw=1.5, label=label)
        ax.set(title=title, xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("images")
    axes[0, -1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def heat_table(table, fmt: str = "{:.2f}", cmap: str = "viridis", title: str | None = None,
               vmin: float | None = None, vmax: float | None = None, size: float = 0.75):
    """A DataFrame as an annotated heat map (rows x columns, e.g. models x labels); returns the figure."""
    import pandas as pd

    df = pd.DataFrame(table)
    if df.empty:
        raise LabkitError("heat_table needs a non-empty table")
    values = df.to_numpy(dtype=np.float64)
    fig, ax = plt.subplots(figsize=(max(4.0, size * len(df.columns) + 2.5), max(2.0, 0.45 * len(df) + 1.5)))
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(df.columns)), [str(c) for c in df.columns], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(df)), [str(i) for i in df.index], fontsize=9)
    for (i, j), v in np.ndenumerate(values):
        r, g, b, _ = im.cmap(im.norm(v))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # white text on dark cells
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="w" if dark else "k")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def attribution_grid(images: Sequence, attributions: Mapping[str, Sequence], row_titles: Sequence[str] | None = None,
                     method: str = "heat_map", sign: str = "positive", outlier_perc: float = 2.0,
                     size: float = 3.0):
    """Images (rows) x attribution methods (columns), each through ``show_attribution``; returns the figure."""
    n = len(images)
    for name, attrs in attributions.items():
        if len(attrs) != n:
            raise LabkitError(f"{name!r} has {len(attrs)} attributions for {n} images")
    ncols = len(attributions) + 1
    fig, axes = plt.subplots(n, ncols, figsize=(size * ncols * 1.15, size * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_as_display(images[i]))
        axes[i, 0].set_title(row_titles[i] if row_titles else "image", fontsize=10)
        axes[i, 0].axis("off")
        for j, (name, attrs) in enumerate(attributions.items(), start=1):
            show_attribution(attrs[i], images[i], method, sign, outlier_perc, ax=axes[i, j],
                             title=name if i == 0 else None)
    fig.suptitle(f"method={method}, sign={sign}, outlier_perc={outlier_perc}", fontsize=10)
    fig.tight_layout()
    return fig
