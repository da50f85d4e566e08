"""streamseg: remove the background from car videos at GPU speed (and on any CPU).

    from streamseg import Segmenter, convert
    with Segmenter() as seg:
        cut = seg.cutout(Image.open("car.jpg"))
    convert("car.mp4", "car_studio.mp4", bg="studio")

The API (streamseg.api) loads on first use, so `import streamseg` and the command stay quick.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from streamseg.errors import InputError, Interrupted, OutputError, StreamsegError

# OpenVINO (the default CPU backend) sends usage events to Google Analytics when it is imported and when it converts
# a model (the openvino-telemetry package it installs), each from a process it forks. streamseg sends nothing
# anywhere, and a process forked from a threaded one can hang on a lock it copied: a test run of 2026-12-07 waited
# at exit for 110 of them (terminate() did not end them). A None entry makes `import
# openvino_telemetry` fail, and OpenVINO then takes its own stand-in, as when that package is not installed.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from streamseg.api import OPTIONS, BatchSummary, Progress, Segmenter, convert
    from streamseg.photo import PhotoSummary
    from streamseg.pipeline import RunSummary

__version__ = "0.1.0"
__all__ = ["OPTIONS", "BatchSummary", "InputError", "Interrupted", "OutputError", "PhotoSummary", "Progress",
           "RunSummary", "Segmenter", "StreamsegError", "convert"]
_LAZY = {"OPTIONS": "api", "BatchSummary": "api", "Progress": "api", "Segmenter": "api", "convert": "api",
         "PhotoSummary": "photo", "RunSummary": "pipeline"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"streamseg.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'streamseg' has no attribute {name!r}")
