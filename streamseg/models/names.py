"""The names a user picks a model by: `default` (shipped in the package), `isnet` (IS-Net kept to the car: its
matte gated by the default UNet, models/gate.py), `isnet-salient` (IS-Net alone: whatever is salient), both
installed into the cache by `streamseg models fetch isnet`; or a checkpoint's path. Everything downstream takes
the resolved path, so engines and compiled packages are cached per file (by its sha256) whatever the model."""

from __future__ import annotations

import os
from pathlib import Path

from streamseg.errors import InputError

NAMED = ("default", "isnet", "isnet-salient")
FETCH = {"isnet": "isnet", "isnet-salient": "isnet"}  # named model -> what `models fetch` installs it with


def cache_root() -> Path:
    """$STREAMSEG_CACHE, else $XDG_CACHE_HOME/streamseg, else ~/.cache/streamseg."""
    if os.environ.get("STREAMSEG_CACHE"):
        return Path(os.environ["STREAMSEG_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "streamseg"


def models_dir() -> Path:
    """Installed models (beside the engines folder): NAME.pt checkpoints and the files they came from."""
    return cache_root() / "models"


def fetched_path(name: str) -> Path:
    """Where `streamseg models fetch NAME` puts the checkpoint it converts."""
    return models_dir() / f"{name}.pt"


def installed_path(name: str) -> Path:
    """Where model `name` lives once installed (it may not be there yet)."""
    if name == "default":
        from streamseg.weights import default_model_path

        return default_model_path()
    if name == "isnet":
        return models_dir() / "isnet-car.pt"  # made from the fetched IS-Net and the default on first use (gate.py)
    return fetched_path(FETCH.get(name, name))


def source_path(name: str) -> Path:
    """The file whose presence makes model `name` installed: what `models fetch` wrote for it, else its own."""
    return fetched_path(FETCH[name]) if name in FETCH else installed_path(name)


def resolve_model(choice: str | Path | None) -> Path:
    """--model default|isnet|PATH -> the checkpoint file; a clear error when it is not there."""
    text = str(choice) if choice is not None else "default"
    if text in NAMED:
        path = installed_path(text)
        needs = source_path(text)
        if not needs.is_file():
            raise InputError(f"model {text!r} is not installed (looked for {needs})",
                             f"install it with `streamseg models fetch {FETCH.get(text, text)}`")
        if text == "isnet":
            from streamseg.models.gate import ensure_gated

            ensure_gated(needs, installed_path("default"), path)
        return path
    path = Path(text)
    if not path.is_file():
        raise InputError(f"model not found: {path}",
                         f"pass --model {'|'.join(NAMED)} or the path of a streamseg checkpoint")
    return path
