"""The parameters every lab has: its size profile, model, seed and output folder."""

from labkit.labs import _validate as v
from labkit.labs._spec import DEFAULT_PROFILE, PROFILES, Param


def common_params(name: str, seed_help: str, model_help: str) -> tuple[Param, ...]:
    """``profile``, ``model_name``, ``seed`` and ``out_dir`` of lab ``name`` (its notebook's first four lines)."""
    return (
        Param("profile", DEFAULT_PROFILE, "size profile: quick (a first look, minutes), standard (a student's CPU), "
              "full (the original studies' scale, a GPU)", v.choice("profile", PROFILES)),
        Param("model_name", "auto", model_help, v.model_name("model_name")),
        Param("seed", 0, seed_help, v.integer("seed", 0)),
        Param("out_dir", f"labkit-out/{name}", "results.json and the figures go here", v.text("out_dir")),
    )
