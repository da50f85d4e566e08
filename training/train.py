"""Train the UNet: BCE + Dice loss, Adam, 256x256 crops, batch 16 (the reference recipe).

    python -m training.train --data data/synth --out runs/w16 --width 16 --steps 1500 \
        --export streamseg/weights/default.pt
    python -m training.train --data data/photoreal --data data/synth:0.5 --init default --out runs/ft ...

Several --data sources are mixed (DIR:WEIGHT draws that source WEIGHT times as often per image); each
keeps its own held-out split, and the held-out scores are those of every source together. --init starts
from a checkpoint (default|isnet-free|PATH) instead of random weights: fine-tuning.

Runs on the CPU or a GPU (mixed precision there). Every --eval-every steps it scores the held-out split
(Dice, IoU), keeps the best as best.pt and the latest state as last.pt (--resume continues from it).
--export writes the best model, in half precision with its spec and scores, as a shipped checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, WeightedRandomSampler

from streamseg.models import ModelSpec, UNet, load_checkpoint, save_checkpoint
from training.dataset import SegmentationDataset, find_samples, split
from training.evaluate import evaluate, held_out_loader, normalise

BOTTOM_REACH = 12  # px above and below the car's lower outline that --bottom-weight counts more


def loss_fn(logits: torch.Tensor, target: torch.Tensor, edge_weight: float = 0.0,
            bottom_weight: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice: BCE for per-pixel calibration, Dice for thin parts.

    `edge_weight` > 0 counts the pixels within 2 of the true outline 1 + edge_weight times in the BCE: the
    outline is a thin share of the picture, so an unweighted loss leaves it a blur several pixels wide, which
    at full resolution is the haze that Boundary IoU measures (issue 23).
    `bottom_weight` > 0 counts the pixels within BOTTOM_REACH rows of the car's lower outline (car above,
    background below: sills, bumpers, tyres on the floor) 1 + bottom_weight times more: where the dark underbody
    meets its shadow the outline network misses the bumper or takes the gap under the sill, and those errors
    alone cost the studio photos 0.63 -> 0.81 Boundary IoU (views 2 and 10, the wrong pixels there set right)."""
    weight = torch.ones_like(target)
    if edge_weight:
        spread = F.max_pool2d(target, 5, 1, 2) + F.max_pool2d(-target, 5, 1, 2)  # local max - local min
        weight = weight + edge_weight * (spread > 0.5).float()
    if bottom_weight:
        weight = weight + bottom_weight * near_lower_outline(target)
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    dice = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
    return bce + (1 - dice).mean()


def near_lower_outline(target: torch.Tensor) -> torch.Tensor:
    """[N,1,H,W] true mask 0..1 -> 1.0 within BOTTOM_REACH rows of its lower outline (car above, background
    below), 0.0 elsewhere."""
    below = torch.cat([target[..., 1:, :], target[..., -1:, :]], -2)  # the crop's last row has none below
    lower = ((target > 0.5) & (below <= 0.5)).float()
    return F.max_pool2d(lower, (2 * BOTTOM_REACH + 1, 3), 1, (BOTTOM_REACH, 1))


def mixed_precision(device: torch.device, choice: str) -> torch.dtype | None:
    """The autocast dtype for `--amp`, or None for FP32.

    On a CPU only BF16 exists, and it is fast only where the CPU computes it natively (AMX or AVX512-BF16:
    a 2.9x faster training step here); elsewhere it is emulated and slower than FP32, so `auto` skips it."""
    if choice == "off":
        return None
    if device.type == "cuda":
        return torch.float16
    if choice == "on" or native_bf16():
        return torch.bfloat16
    return None


def native_bf16() -> bool:
    """Whether this CPU computes BF16 in hardware (Linux CPU flags amx_bf16 or avx512_bf16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def parse_source(text: str) -> tuple[Path, float]:
    """DIR or DIR:WEIGHT."""
    root, _, weight = text.rpartition(":")
    if root and weight.replace(".", "", 1).isdigit():
        return Path(root), float(weight)
    return Path(text), 1.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", required=True,
                    help="Carvana layout or images/ + masks/; DIR:WEIGHT to weight a source; repeatable")
    ap.add_argument("--init", help="start from this checkpoint (default, or a path): fine-tune")
    ap.add_argument("--out", type=Path, required=True, help="folder for last.pt, best.pt, log.jsonl")
    ap.add_argument("--width", type=int, default=32, help="first-level channels (reference: 32)")
    ap.add_argument("--context", action="store_true",
                    help="add the wider-context branch at the bottleneck (streamseg/models/unet.py); with --init "
                         "it joins the trained UNet at zero")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=parse_size, default=(256, 256), help="training crop HxW")
    ap.add_argument("--input-size", type=parse_size, default=(256, 448),
                    help="HxW frames are resized to at inference (and evaluation)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--amp", choices=["auto", "on", "off"], default="auto",
                    help="mixed precision: FP16 on a GPU, BF16 on a CPU with native BF16 (AMX/AVX512-BF16); "
                         "auto = where it is fast")
    ap.add_argument("--recolour", type=float, default=0.0,
                    help="share of training crops whose car is repainted (random hue, saturation)")
    ap.add_argument("--whole", type=float, default=0.0,
                    help="share of training crops that are the whole image at the crop size, as inference sees a "
                         "frame (the others zoom in 1.0-1.6x)")
    ap.add_argument("--frame", type=parse_size,
                    help="HxW the image is scaled to cover before the zoom and the crop (default: the crop): "
                         "crops of a frame larger than they are, to teach the car at a larger scale")
    ap.add_argument("--edge-weight", type=float, default=0.0,
                    help="count pixels within 2 of the true outline 1+W times in the BCE (a sharper outline)")
    ap.add_argument("--bottom-weight", type=float, default=0.0,
                    help=f"count pixels within {BOTTOM_REACH} rows of the car's lower outline 1+W times in the BCE")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--export", type=Path, help="write the best model here as a shipped checkpoint")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    sources = [parse_source(text) for text in args.data]
    init = None
    if args.init:
        from streamseg.models.names import resolve_model

        init, spec, _ = load_checkpoint(resolve_model(args.init))
        if spec.arch != "unet":
            raise SystemExit(f"--init {args.init} is a {spec.arch}, not a UNet")
        args.width = spec.width
        args.context = args.context or spec.context
        if args.context and not spec.context:  # the branch joins a trained UNet at zero: same output at first
            grown = UNet(spec.width, context=True)
            missing, unexpected = grown.load_state_dict(init.state_dict(), strict=False)
            assert not unexpected and all(k.startswith("context.") for k in missing), (missing, unexpected)
            init = grown
    spec = ModelSpec(width=args.width, context=args.context, input_height=args.input_size[0],
                     input_width=args.input_size[1])
    train_samples, weights = [], []
    for root, weight in sources:
        part, _ = split(find_samples(root), args.val_fraction)
        train_samples += part
        weights += [weight] * len(part)
    train_ds = SegmentationDataset(train_samples, crop=args.crop, augment=True, recolour=args.recolour,
                                   whole=args.whole, frame=args.frame)
    loader = DataLoader(train_ds, batch_size=args.batch, num_workers=args.workers, drop_last=True,
                        sampler=WeightedRandomSampler(weights, num_samples=args.steps * args.batch, replacement=True),
                        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    val_loader = held_out_loader([root for root, _ in sources], spec, args.val_fraction)

    model = UNet(args.width, args.context) if init is None else init
    model = model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(  # short warm-up, then cosine to 5%
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / args.steps))))
    amp_dtype = mixed_precision(device, args.amp)
    scaler = torch.amp.GradScaler(enabled=amp_dtype == torch.float16)  # bf16 keeps fp32's range: no scaling
    args.out.mkdir(parents=True, exist_ok=True)
    step, best = 0, {"dice": -1.0}
    if args.resume and (args.out / "last.pt").exists():
        state = torch.load(args.out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        scaler.load_state_dict(state["scaler"])
        step, best = state["step"], state["best"]
        print(f"resumed at step {step}, best {best}")

    meta = {"command": "python -m training.train " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "data": args.data, "init": args.init, "train_images": len(train_samples), "device": str(device),
            "amp": str(amp_dtype), "recolour": args.recolour, "whole": args.whole, "frame": args.frame,
            "edge_weight": args.edge_weight, "bottom_weight": args.bottom_weight,
            "torch": str(torch.__version__)}
    log = open(args.out / "log.jsonl", "a")
    t0, seen = time.time(), 0
    model.train()
    for x, y in loader:
        if step >= args.steps:
            break
        x = normalise(x.to(device, non_blocking=True), spec).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model.logits(x)
        loss = loss_fn(logits.float(), y, args.edge_weight, args.bottom_weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        step += 1
        seen += 1
        if step % 10 == 0:
            rate = (time.time() - t0) / seen
            print(f"step {step}/{args.steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{rate:.2f}s/step", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            scores = evaluate(model, spec, val_loader, device)
            model.train()
            entry = {"step": step, "loss": round(loss.item(), 4), **scores,
                     "time": datetime.datetime.now().isoformat(timespec="seconds")}
            print(json.dumps(entry), flush=True)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            if scores["dice"] > best["dice"]:
                best = {**scores, "step": step}
                save_checkpoint(args.out / "best.pt", model, spec, {**meta, "held_out": best, "steps": step})
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "scaler": scaler.state_dict(), "step": step, "best": best}, args.out / "last.pt")
    log.close()
    print(f"best held-out: {best}")
    if args.export:
        model, spec, best_meta = load_checkpoint(args.out / "best.pt")
        best_meta["trained_on"] = datetime.date.today().isoformat()
        save_checkpoint(args.export, model, spec, best_meta, half=True)
        print(f"exported {args.export} ({args.export.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
