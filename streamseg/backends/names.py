"""The backends' names, in one table that the CLI's help and checks read without importing torch; the
registry (registry.py) holds what each one is, can do and needs."""

from __future__ import annotations

from typing import Literal, get_args

BackendName = Literal["tensorrt", "compiled", "cuda", "openvino", "cpu"]
BACKEND_NAMES: tuple[BackendName, ...] = get_args(BackendName)
# what `auto` tries, in order; "compiled" only when asked for: its first build takes minutes
AUTO_ORDER: tuple[BackendName, ...] = ("tensorrt", "cuda", "openvino", "cpu")
EngineKind = Literal["tensorrt", "compiled"]  # the backends whose engine `streamseg build-engine` builds
ENGINE_KINDS: tuple[EngineKind, ...] = get_args(EngineKind)
Precision = Literal["fp32", "fp16", "bf16"]  # what a backend computes in


def backend_help() -> str:
    """--backend's help, from the table."""
    *first, last = BACKEND_NAMES
    held = [n for n in BACKEND_NAMES if n not in AUTO_ORDER]
    return (f"auto, {', '.join(first)} or {last} (auto: the first that can run, in the order "
            f"{', '.join(AUTO_ORDER)}; {' and '.join(held)} only when asked for).")
