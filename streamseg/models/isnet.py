"""IS-Net (DIS, "general use"): the dichotomous image segmentation network of Qin et al., "Highly Accurate
Dichotomous Image Segmentation" (ECCV 2022; github.com/xuebinqin/DIS), written for this package and filled
with the weights of the ONNX file that `streamseg models fetch isnet` installs (npm
@imgly/background-removal-data 1.4.5, `medium`: FP16 weights, input 1x3x1024x1024).

The network: a stride-2 3x3 conv, then a U-Net of U-Nets. Six encoder stages of residual U-blocks (RSU-L:
a small L-level U-Net plus an identity shortcut; the two deepest stages are "RSU-4F", which widen the receptive
field with dilation instead of pooling) and five decoder stages that each take the upsampled deeper result
concatenated with the encoder skip of the same size. Each decoder level (and the bottom) has a 3x3 side conv to
one channel; the ONNX file's `output` is the sigmoid of the finest one (side1), bilinearly upsampled to the
input size. There is no fused output: DIS's `outconv` over all six is commented out in the reference.

What the ONNX graph itself shows (checked node by node; tests/test_isnet.py pins the mapping to it):
- BatchNorm is folded into the convolutions: every conv+BN+ReLU of the reference is one Conv (with bias) + Relu,
  so this module uses biased convs and no BatchNorm (ConvReLU).
- conv_in has no BN or ReLU, and the reference's `pool_in` is unused: stage 1 runs at half the input size.
- Every upsampling is Resize(mode=linear, coordinate_transformation_mode=half_pixel) to the skip's size, i.e.
  F.interpolate(mode="bilinear", align_corners=False); every pooling is MaxPool 2x2/2 with ceil_mode.
- The graph computes in FP16 (Resize in FP32 between Casts); this module computes in FP32 with the same weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from streamseg.models.spec import ModelSpec

INPUT_SIZE = 1024  # what the ONNX file was exported at (its Resize sizes are constants for it)


class ConvReLU(nn.Conv2d):
    """3x3 conv + ReLU. The reference's conv+BatchNorm+ReLU with the BN folded into the conv's weight and bias,
    as the ONNX export stores it: the running statistics are not in the file, and a biased conv is exactly what
    the graph computes (an identity BN would only add dead buffers, and batch statistics when fine-tuning)."""

    def __init__(self, cin: int, cout: int, dilation: int = 1) -> None:
        super().__init__(cin, cout, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to `like`'s size (ONNX Resize linear/half_pixel). The size comes from the shape, so one
    module serves any input size and exports without data-dependent control flow."""
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def pool(x: torch.Tensor) -> torch.Tensor:
    # ceil_mode keeps the last row/column of odd sizes, so the decoder's upsample-to-skip stays aligned
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of `depth` levels: conv in, then a U-Net on its result, added back.

    Plain (RSU-7..4): depth-1 encoder convs with a 2x2 max-pool between them, a dilation-2 bottom conv, and
    depth-1 decoder convs over [upsampled deeper, skip]. Dilated (RSU-4F, for the coarsest stages where pooling
    would leave too few pixels): no pooling; the encoder dilates 1, 2, 4..., the bottom twice the last, and the
    decoder mirrors the encoder. Submodules are registered in execution order (onnx_parameters relies on it).
    """

    def __init__(self, depth: int, cin: int, mid: int, cout: int, dilated: bool = False) -> None:
        super().__init__()
        self.dilated = dilated
        rates = [2**i if dilated else 1 for i in range(depth - 1)]
        self.inp = ConvReLU(cin, cout)
        self.enc = nn.ModuleList(ConvReLU(cout if i == 0 else mid, mid, r) for i, r in enumerate(rates))
        self.bottom = ConvReLU(mid, mid, 2 * rates[-1])
        # decoder j: from the (j+1)-th deepest level up; the last one returns to `cout` channels
        self.dec = nn.ModuleList(ConvReLU(2 * mid, cout if j == depth - 2 else mid, r)
                                 for j, r in enumerate(reversed(rates)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xin = self.inp(x)
        skips: list[torch.Tensor] = []
        hx = xin
        for i, conv in enumerate(self.enc):
            if i and not self.dilated:
                hx = pool(hx)
            hx = conv(hx)
            skips.append(hx)
        hx = self.bottom(hx)
        for j, (conv, skip) in enumerate(zip(self.dec, reversed(skips))):
            if j and not self.dilated:
                hx = upsample_like(hx, skip)
            hx = conv(torch.cat([hx, skip], dim=1))
        return hx + xin


class ISNet(nn.Module):
    """RGB in [N,3,H,W] (normalised: (v - 128) / 256 on 0..255 values), foreground probability [N,1,H,W] in [0, 1].

    forward computes only what its mask needs: the decoder and side1. side2..side6 (the deep-supervision heads
    DIS trains with) are kept, so the module holds the complete network of the ONNX file; side_outputs returns
    all six. Any H, W works (1024x1024 is what it was trained and exported at)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64, 3, stride=2, padding=1)  # no BN/ReLU after it in the reference either
        # (depth, in, mid, out, dilated) from the reference, finest first
        encoder: list[tuple[int, int, int, int, bool]] = [
            (7, 64, 32, 64, False), (6, 64, 32, 128, False), (5, 128, 64, 256, False), (4, 256, 128, 512, False),
            (4, 512, 256, 512, True), (4, 512, 256, 512, True)]
        self.encoder = nn.ModuleList(RSU(*a) for a in encoder)
        # deepest first, in execution order: the reference's stage5d, 4d, 3d, 2d, 1d
        decoder: list[tuple[int, int, int, int, bool]] = [
            (4, 1024, 256, 512, True), (4, 1024, 128, 256, False), (5, 512, 64, 128, False), (6, 256, 32, 64, False),
            (7, 128, 16, 64, False)]
        self.decoder = nn.ModuleList(RSU(*a) for a in decoder)
        # side k (the reference's side{k+1}) reads decoder level k, finest first; side[5] reads the bottom stage
        self.side = nn.ModuleList(nn.Conv2d(c, 1, 3, padding=1) for c in (64, 64, 128, 256, 512, 512))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six maps the side heads read, finest first: decoder stages 1..5, then the bottom encoder stage."""
        hx = self.conv_in(x)
        skips: list[torch.Tensor] = []
        for i, stage in enumerate(self.encoder):
            if i:
                hx = pool(hx)
            hx = stage(hx)
            skips.append(hx)
        levels = [hx]
        for stage, skip in zip(self.decoder, reversed(skips[:-1])):
            hx = stage(torch.cat([upsample_like(hx, skip), skip], dim=1))
            levels.append(hx)
        return levels[::-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(upsample_like(self.side[0](self.features(x)[0]), x))

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """All six side probabilities at the input size, finest first (the ONNX file's first six outputs)."""
        return [torch.sigmoid(upsample_like(head(f), x)) for head, f in zip(self.side, self.features(x))]


def isnet_spec() -> ModelSpec:
    """RGB stretched to 1024x1024; (x - 128/255) / (256/255) on [0, 1] is the reference's (v - 128) / 256."""
    return ModelSpec(arch="isnet", width=64, input_height=INPUT_SIZE, input_width=INPUT_SIZE,
                     mean=(128 / 255,) * 3, std=(256 / 255,) * 3)


# The export named the weights of convs without BN by their module (conv_in, side1..6). Each folded conv+BN got
# two fresh initializers, onnx::Conv_{n} (weight) and onnx::Conv_{n+1} (bias), numbered in execution order from
# 1896 in steps of 3 (the number in between went to a value the export folded away).
FIRST_FOLDED, FOLDED_STEP = 1896, 3


def onnx_parameters(model: ISNet | None = None) -> dict[str, str]:
    """ONNX initializer name -> state_dict key, for every weight of the network: generated from the module
    structure (ConvReLU modules in registration order = execution order), so it covers exactly the state_dict."""
    model = model if model is not None else ISNet()
    table = {f"conv_in.{k}": f"conv_in.{k}" for k in ("weight", "bias")}
    for i in range(len(model.side)):
        table |= {f"side{i + 1}.{k}": f"side.{i}.{k}" for k in ("weight", "bias")}
    folded = [name for name, m in model.named_modules() if isinstance(m, ConvReLU)]
    for i, name in enumerate(folded):
        n = FIRST_FOLDED + FOLDED_STEP * i
        table[f"onnx::Conv_{n}"] = f"{name}.weight"
        table[f"onnx::Conv_{n + 1}"] = f"{name}.bias"
    return table


def weight_initializers(graph) -> dict:
    """The initializers that must all be used, by name: every floating-point one except what feeds a Resize's
    roi/scales/sizes (integer initializers are shapes and axes, never weights). In this file that is all 238,
    the weights and biases of the 119 convs; its Resize sizes are Constant nodes, not initializers."""
    import onnx

    not_weights = {name for node in graph.node if node.op_type == "Resize" for name in node.input[1:]}
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)
    return {t.name: t for t in graph.initializer if t.data_type in floats and t.name not in not_weights}


def load_onnx_weights(model: ISNet, onnx_path: str | Path) -> None:
    """Fill every parameter of `model` from the ONNX file's initializers (FP16 -> FP32). ValueError if a
    state_dict entry is left unfilled, a weight initializer unused, a name missing or a shape different."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    weights = weight_initializers(graph)
    table = onnx_parameters(model)
    state = model.state_dict()
    problems = []
    if missing := sorted(set(table) - set(weights)):
        problems.append(f"not in the file: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unused := sorted(set(weights) - set(table)):
        problems.append(f"weight initializers not used: {unused[:5]}{' ...' if len(unused) > 5 else ''}")
    if unfilled := sorted(set(state) - set(table.values())):
        problems.append(f"state_dict entries not filled: {unfilled[:5]}{' ...' if len(unfilled) > 5 else ''}")
    filled = {}
    for onnx_name, key in table.items():
        if onnx_name not in weights or key not in state:
            continue
        value = torch.from_numpy(numpy_helper.to_array(weights[onnx_name]).astype("float32"))
        if value.shape != state[key].shape:
            problems.append(f"{onnx_name} has shape {tuple(value.shape)}, {key} {tuple(state[key].shape)}")
        filled[key] = value
    if problems:
        raise ValueError(f"{onnx_path} does not fit ISNet: " + "; ".join(problems))
    model.load_state_dict(filled, strict=True)
