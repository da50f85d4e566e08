"""RunOptions: what `streamseg run` (or `streamseg.convert`) was asked for, as one typed object built once by
`api.convert` and handed down unchanged through the job, the batch runners (local workers, Ray) and the pipeline.

Each layer reads the fields it needs: the pipeline how to process an input, the runners which backend
and model to open and whether an existing output may be replaced. A batch fills in each job's source
and output with `dataclasses.replace`. Keyword-only, so a call site names every value it sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamseg.backends.registry import BackendName
from streamseg.io.reader import Deinterlace
from streamseg.io.source import Decoder
from streamseg.io.writer import OutputFormat
from streamseg.plates import PlateCover
from streamseg.studio import StudioLook
from streamseg.vehicles import Vehicles


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    # one input and its output (a batch fills these in per job)
    source: Path | str = ""  # file, URL, pipe: or - (stdin)
    output: Path | str = ""  # file or folder, or a URL for a live stream
    # how the pipeline processes it
    fmt: OutputFormat
    background: str = "studio"
    batch_size: int | None = None  # None: auto_batch_size for the device
    refine: bool = True
    edges: bool | None = None  # the full-resolution edge stage (streamseg.edges); None: on photos, not on videos
    smooth: bool = True  # temporal smoothing of the matte (streamseg.temporal)
    vehicles: Vehicles = "subject"  # the subject vehicle only, or all (streamseg.vehicles)
    plate: PlateCover | None = None  # number plates blurred, filled or covered by a logo (streamseg.plates)
    queue_size: int = 4  # batches in flight between two stages
    max_latency_ms: float | None = None  # close a batch when its oldest frame waited this long
    realtime: bool = False  # drop frames rather than fall behind a live source
    reconnects: int = 3  # for live sources that drop
    reconnect_delay_s: float = 0.5  # before the first retry, doubling after
    timeout_s: float = 10.0  # to open or read a stream before giving up
    decoder: Decoder = "auto"  # auto (NVDEC where it can work, else PyAV), nvdec or pyav
    deinterlace: Deinterlace = "auto"  # auto (when the video is interlaced), on or off
    look: StudioLook = StudioLook()  # shadow, reflection, fit and output size (streamseg.studio)
    # what runs it (the CLI and the batch runners)
    backend: BackendName = "cpu"  # already resolved: what `auto` chose is named here
    auto_backend: bool = False  # the backend was chosen by `auto` (the run line says so)
    model_path: Path | None = None  # the checkpoint; None: the shipped model
    overwrite: bool = False  # replace existing outputs

    def edge_stage(self, photo: bool) -> bool:
        """Whether the edge stage runs on a photo (`photo`) or a video: asked for, or by default on a photo (a
        photo is looked at still and at full size; a video's frames/s keep it off), and only after the guided
        filter whose matte it redraws."""
        return (photo if self.edges is None else self.edges) and self.refine

    def model(self) -> Path:
        """The checkpoint to run."""
        if self.model_path is not None:
            return self.model_path
        from streamseg.weights import default_model_path

        return default_model_path()
