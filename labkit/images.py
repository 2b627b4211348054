"""Images: bundled photos or files as RGB uint8, fitted to a model's input; seeded noise.

Bundled photos come from installed packages (scikit-image's sample data, matplotlib's
sample data), so the labs run with no download.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from labkit.errors import LabkitError, check_int

# name -> (package, how to get it, what it shows)
BUNDLED: dict[str, tuple[str, str, str]] = {
    "chelsea": ("scikit-image", "skimage:chelsea", "a tabby cat"),
    "coffee": ("scikit-image", "skimage:coffee", "a cup of espresso"),
    "rocket": ("scikit-image", "skimage:rocket", "a rocket on its launch pad"),
    "camera": ("scikit-image", "skimage:camera", "a cameraman (grayscale)"),
    "stereo_motorcycle": ("scikit-image", "skimage:stereo_motorcycle", "a motorcycle"),
    "astronaut": ("scikit-image", "skimage:astronaut", "astronaut Eileen Collins"),
    "grace_hopper": ("matplotlib", "mpl:grace_hopper.jpg", "Grace Hopper in uniform"),
}

ImageLike = str | os.PathLike | np.ndarray | Image.Image


def to_rgb_uint8(img: Image.Image | np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a PIL image or array (gray, RGBA, palette handled)."""
    if isinstance(img, Image.Image):
        if img.mode in ("RGBA", "LA", "P", "PA"):  # composite transparency on white
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise LabkitError(f"expected an image of shape (H, W[, 1|3|4]), got {a.shape}")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.shape[-1] == 4:
        alpha = a[..., 3:].astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
        a = a[..., :3] * alpha + (255.0 if a.dtype == np.uint8 else 1.0) * (1 - alpha)
    if a.dtype != np.uint8:
        a = np.asarray(a, dtype=np.float64)
        if a.max(initial=0) <= 1.0:
            a = a * 255.0
        a = np.clip(np.rint(a), 0, 255)
    return a.astype(np.uint8)


def _bundled(name: str) -> np.ndarray:
    _, source, _ = BUNDLED[name]
    kind, item = source.split(":")
    if kind == "skimage":
        from skimage import data

        img = getattr(data, item)()
        return to_rgb_uint8(img[0] if isinstance(img, tuple) else img)  # stereo pairs: the left view
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data(item) as f:
        return to_rgb_uint8(Image.open(f))


def load_image(source: ImageLike) -> np.ndarray:
    """A bundled photo by name (see ``BUNDLED``), a file path, or an array/PIL image, as RGB uint8."""
    if isinstance(source, (np.ndarray, Image.Image)):
        return to_rgb_uint8(source)
    if str(source) in BUNDLED:
        return _bundled(str(source))
    with _open(source) as im:
        return to_rgb_uint8(im)


def _open(source: str | os.PathLike) -> Image.Image:
    """An image file, read whole (a truncated or corrupt file fails here), or one clear error."""
    path = Path(source).expanduser()
    if not path.is_file():
        known = ", ".join(BUNDLED)
        raise LabkitError(f"image not found: {str(source)!r} is neither a file nor a bundled photo ({known})")
    try:
        im = Image.open(path)
        im.load()
        return im
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise LabkitError(f"cannot read image {path}: {exc}") from None


def check_image(source: str | os.PathLike) -> str | os.PathLike:
    """``source`` when it is a bundled photo's name or a readable image file, else the error ``load_image`` would
    raise, before any heavy work (a lab's photo parameters)."""
    if str(source) not in BUNDLED:
        _open(source).close()
    return source


def load_images(sources: Sequence[ImageLike] | ImageLike) -> list[np.ndarray]:
    """Load every image first, so a bad one fails before any work starts."""
    if isinstance(sources, (str, os.PathLike, np.ndarray, Image.Image)):
        sources = [sources]
    return [load_image(s) for s in sources]


def fit(img: np.ndarray, size: int | tuple[int, int], mode: str = "crop") -> np.ndarray:
    """Resize to ``size``: ``crop`` scales the short side and centre-crops; ``resize`` stretches;
    ``center`` is torchvision's evaluation transform (short side to ``size / 0.875``, then centre crop)."""
    h, w = (size, size) if isinstance(size, int) else size
    im = Image.fromarray(to_rgb_uint8(img))
    if mode == "crop":
        scale = max(h / im.height, w / im.width)
        new = (max(w, round(im.width * scale)), max(h, round(im.height * scale)))
        im = im.resize(new, Image.BILINEAR)
        left, top = (im.width - w) // 2, (im.height - h) // 2
        im = im.crop((left, top, left + w, top + h))
    elif mode == "resize":
        im = im.resize((w, h), Image.BILINEAR)
    elif mode == "center":  # torchvision's Resize(256) + CenterCrop(224), scaled to any size (seed 002)
        side = round(min(h, w) / 0.875)
        scale = side / min(im.width, im.height)
        if scale != 1:
            im = im.resize((max(w, round(im.width * scale)), max(h, round(im.height * scale))), Image.BILINEAR)
        left, top = int(round((im.width - w) / 2)), int(round((im.height - h) / 2))
        im = im.crop((left, top, left + w, top + h))
    else:
        raise LabkitError(f"unknown fit mode {mode!r}; use 'crop', 'resize' or 'center'")
    return np.asarray(im, dtype=np.uint8)


def fit_batch(images, size: int, mode: str = "crop") -> np.ndarray:
    """A float32 batch ``(n, size, size, 3)`` in 0..255 from images of any size, or one image (a bundled
    name, a path, an array, a PIL image), or a batch (returned as it is when it has the size already)."""
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:3] == (size, size):
        return images.astype(np.float32, copy=False)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    return np.stack([fit(im, size, mode) for im in load_images(images)]).astype(np.float32)


def mosaic(tiles: Sequence[np.ndarray], size: int, grid: int = 2) -> np.ndarray:
    """A ``grid`` x ``grid`` mosaic of ``size`` x ``size`` pixels from ``grid**2`` images."""
    if len(tiles) != grid * grid:
        raise LabkitError(f"a {grid}x{grid} mosaic needs {grid * grid} images, got {len(tiles)}")
    side = size // grid
    cells = [fit(load_image(t), side) for t in tiles]
    rows = [np.concatenate(cells[r * grid:(r + 1) * grid], axis=1) for r in range(grid)]
    out = np.concatenate(rows, axis=0)
    return fit(out, size, "resize") if out.shape[0] != size else out


def random_crops(sources: Sequence[ImageLike], n: int, size: int = 256, seed: int = 0,
                 scale: tuple[float, float] = (0.25, 1.0)) -> np.ndarray:
    """``n`` augmented crops (uint8, ``size`` x ``size``) cycling over ``sources``: a random square of
    ``scale`` of the short side's area, at a random place, flipped left-right half the time; seeded."""
    n = check_int("the number of crops", n)
    if not 0 < scale[0] <= scale[1] <= 1:
        raise LabkitError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    imgs = load_images(sources)
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        img = imgs[k % len(imgs)]
        h, w = img.shape[:2]
        side = max(1, round(min(h, w) * np.sqrt(rng.uniform(*scale))))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = fit(img[top:top + side, left:left + side], size, "resize")
        out[k] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


# ---------------------------------------------------------------------------
# Noise (all seeded)
# ---------------------------------------------------------------------------

def seed002_noise(n: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """Seed 002's generator, bit for bit: ``(np.random.standard_normal([256, 256, 3]) * 255).astype(np.uint8)``.

    The cast wraps around: -0.4 * 255 = -102 becomes 154, 449.8 becomes 193. We do the
    wrap-around explicitly (truncate, then modulo 256), since a float-to-uint8 cast of
    out-of-range values is not defined on every platform. ``np.random.seed(seed)``
    followed by ``n`` calls of the seed's ``gen_image`` gives the same images.
    """
    rng = np.random.RandomState(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        x = rng.standard_normal([size, size, 3]) * 255
        out[i] = (np.trunc(x).astype(np.int64) % 256).astype(np.uint8)
    return out


def uniform_noise(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """Uniform noise: every pixel independently in 0..255 (uint8)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def gaussian_noise(n: int, size: int = 224, seed: int = 0, mean: float = 127.5, std: float = 64.0) -> np.ndarray:
    """Gaussian noise around mid-grey, clipped to 0..255 (uint8)."""
    x = np.random.default_rng(seed).normal(mean, std, (n, size, size, 3))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


NOISE_KINDS = {"seed002": seed002_noise, "uniform": uniform_noise, "gaussian": gaussian_noise}


def noise(kind: str, n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """``n`` noise images of a kind in ``NOISE_KINDS``."""
    if kind not in NOISE_KINDS:
        raise LabkitError(f"unknown noise kind {kind!r}; one of {', '.join(NOISE_KINDS)}")
    n = check_int("the number of noise images", n)
    return NOISE_KINDS[kind](n, size=size, seed=seed)
