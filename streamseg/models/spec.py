"""What a model needs besides its weights to be rebuilt and fed correctly: its architecture, input size
and normalisation. Every backend, the export and the pipeline read it; nothing else about a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

LEVELS = 4  # the UNet's pooling steps, so inputs must be a multiple of 2**LEVELS
SIZE_MULTIPLE = 2**LEVELS
ARCHS = ("unet", "isnet", "edges")  # edges: the full-resolution edge stage (edges.py)


@dataclass(frozen=True)
class ModelSpec:
    arch: str = "unet"  # one of ARCHS
    width: int = 32  # UNet: channels of the first level; the reference uses 32
    context: bool = False  # UNet: the wider-context branch at the bottleneck (unet.Context)
    input_height: int = 256  # the size frames are resized to before inference
    input_width: int = 256
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # on RGB in [0, 1]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    levels: int = 3  # edges: the edge network's depth, which sets its reach (edges.margin)
    gate: ModelSpec | None = None  # IS-Net: the car-aware UNet its matte is gated by (gate.py)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch = {self.arch!r} must be one of {ARCHS}")
        for name in ("input_height", "input_width"):
            value = getattr(self, name)
            if value <= 0 or value % SIZE_MULTIPLE:
                raise ValueError(f"{name} = {value} must be a positive multiple of {SIZE_MULTIPLE}")
        if self.gate is not None and (self.arch != "isnet" or self.gate.arch != "unet"):
            raise ValueError("only an IS-Net is gated, and only by a UNet")
        if self.width <= 0:
            raise ValueError(f"width = {self.width} must be > 0")

    @property
    def channels(self) -> int:
        """Input channels: the picture's three, and the matte to correct for the edge stage."""
        return 4 if self.arch == "edges" else 3

    @property
    def square(self) -> bool:
        """A model fed a stretched square (IS-Net) keeps its size for portrait frames."""
        return self.input_height == self.input_width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(known[k])
        if known.get("gate") is not None:
            known["gate"] = cls.from_dict(known["gate"])
        return cls(**known)
