"""Old names that keep working for one release, with a ``DeprecationWarning`` that names the new one: renamed
keyword arguments (``renamed``) and a renamed module (``moved``)."""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from collections.abc import Callable


def renamed(**old: str) -> Callable:
    """A decorator: the keyword arguments once called by the keys of ``old`` still work, passed on under their new
    names (``@renamed(lr="learning_rate")``) with a ``DeprecationWarning``; the old and the new name together is a
    ``TypeError``. Positions never change, so positional calls need nothing."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            for was, now in old.items():
                if was in kwargs:
                    if now in kwargs:
                        raise TypeError(f"{function.__name__}() got {was}= and {now}=: {was} is {now}'s old name")
                    warnings.warn(f"{function.__name__}(): {was}= is now called {now}= (the old name goes away in "
                                  "the next release)", DeprecationWarning, stacklevel=2)
                    kwargs[now] = kwargs.pop(was)
            return function(*args, **kwargs)

        wrapper.renamed_arguments = dict(old)
        return wrapper

    return decorate


def moved(old: str, new: str) -> None:
    """Called by module ``old`` as it is imported: ``old`` becomes module ``new`` itself (the same object, so one
    monkeypatch serves both), with a ``DeprecationWarning`` on its first import."""
    warnings.warn(f"{old} is now {new} (the old name goes away in the next release)", DeprecationWarning,
                  stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
