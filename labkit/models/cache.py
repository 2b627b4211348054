"""One cache of compiled functions and model clones, per model, with one way to release it.

Every compiled step labkit builds (the forward, the input gradient, the attacks' steps, the universal
image's step, the attention maps' modified clone) is keyed weakly on its model: a model that goes away
takes its entries with it, and ``release`` drops them on request (a VGG16 clone holds 1.9 GB).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Hashable

_ENTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {key: built object}


def cached(model, key: Hashable, build: Callable[[], object]):
    """The object stored for ``(model, key)``, built with ``build()`` on first use. ``build`` must not hold a
    strong reference to ``model`` itself (its layers are fine), or the entry would keep the model alive."""
    entry = _ENTRIES.setdefault(model, {})
    if key not in entry:
        entry[key] = build()
    return entry[key]


def release(model=None, kind: str | None = None, clear_session: bool = False) -> None:
    """Drop the cached objects of ``model`` (every model when None); ``kind``: only keys whose first element
    (or the key itself) is ``kind``. ``clear_session`` also resets Keras' global state. Then collect garbage."""
    for m in [model] if model is not None else list(_ENTRIES.keys()):
        entry = _ENTRIES.get(m, {})
        for key in [k for k in entry if kind is None or k == kind or (isinstance(k, tuple) and k[0] == kind)]:
            del entry[key]
    if clear_session:
        import keras

        keras.backend.clear_session()
    gc.collect()


def entries(model) -> dict:
    """A copy of ``model``'s cached objects, ``{key: object}``."""
    return dict(_ENTRIES.get(model, {}))


def cached_models(kind: str) -> list:
    """The models that hold an entry of ``kind`` now (for tests and for releasing all but one)."""
    return [m for m, entry in _ENTRIES.items()
            if any(k == kind or (isinstance(k, tuple) and k[0] == kind) for k in entry)]
