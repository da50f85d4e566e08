"""The default model shipped inside the package (see MODEL_CARD.md beside it)."""

from pathlib import Path

DEFAULT_MODEL = "default.pt"


def default_model_path() -> Path:
    return Path(__file__).with_name(DEFAULT_MODEL)
