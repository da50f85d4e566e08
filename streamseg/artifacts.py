"""Cached artifacts (TensorRT engines, compiled packages, OpenVINO models): each file NAME has a sidecar
NAME.json recording what it was made from and for, and `stale` compares that record with what is here
now, in one place, for every cache that asks "can I reuse this?"."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """model.onnx -> model.onnx.json, model.engine -> model.engine.json."""
    return path.with_name(path.name + ".json")


def stale(path: Path, what: str, now: Callable[[], Mapping[str, object]],
          labels: Mapping[str, str] | None = None) -> str | None:
    """Why the artifact at `path` cannot be reused, or None when it can: it is missing, its sidecar is
    missing or unreadable, or a value the sidecar records differs from `now()` (called only when there is
    something to compare; `labels` name the keys for people)."""
    if not path.is_file():
        return f"no {what} at {path} yet"
    try:
        built = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return f"{sidecar_path(path)} is missing or unreadable"
    labels = labels or {}
    changed = [f"{labels.get(key, key)} was {built.get(key)}, is now {value}"
               for key, value in now().items() if built.get(key) != value]
    return "stale: " + "; ".join(changed) if changed else None
