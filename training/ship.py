"""Turn a training run into the shipped checkpoint, with the scores the model card quotes in its metadata.

    python -m training.ship --run runs/ft --which last --out streamseg/weights/default.pt \
        --drawn data/synth --drawn-test data/synth_test

--which last takes the weights at the end of the run's schedule (OUT/last.pt), best the checkpoint with the
best held-out score of the run's own data (OUT/best.pt).

--alphas 0.25,0.5,0.75,1 (a fine-tuned run only): interpolate the weights between the run's starting model
(--init) and its result, alpha * tuned + (1 - alpha) * init (WiSE-FT, Wortsman et al. 2022: it keeps much
of what the start model knew while gaining most of the new), and take the alpha with the best held-out
score on --photo (the run's photo-like sets) among those that keep the drawn scenes' held-out Dice at or
above --min-drawn. Only held-out splits of training sources decide. Scored here, on the model as shipped (FP16 weights):
the held-out split of the drawn scenes (--drawn, the split training used) and an independent drawn test set
(--drawn-test, every image). The real-car evaluation set is not read here: its scores come from
`python -m training.evaluate_real` and go into the model card, never into a choice of weights.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from streamseg.models import UNet, load_checkpoint, save_checkpoint
from training.evaluate import evaluate, held_out_loader


def choose_alpha(tuned: torch.nn.Module, spec, args) -> tuple[torch.nn.Module, dict]:
    from streamseg.models.names import resolve_model

    start, _, _ = load_checkpoint(resolve_model(args.init))
    device = torch.device("cpu")
    drawn = held_out_loader(args.drawn, spec, 0.1)
    photo = held_out_loader(args.photo, spec, 0.1)
    a, b = start.state_dict(), tuned.state_dict()
    # a start without the context branch is the same network with the branch's output at zero: the branch's
    # inner weights are kept as tuned and only its output is scaled by alpha
    a = {k: a[k] if k in a else (torch.zeros_like(v) if k.startswith("context.out.") else v) for k, v in b.items()}
    table, best = [], None
    for alpha in (float(x) for x in args.alphas.split(",")):
        model = UNet(spec.width, spec.context)
        model.load_state_dict({k: alpha * b[k].float() + (1 - alpha) * a[k].float() for k in b})
        row = {"alpha": alpha, "drawn_held_out": evaluate(model, spec, drawn, device)["dice"],
               "photo_held_out": evaluate(model, spec, photo, device)["dice"]}
        print(json.dumps(row), flush=True)
        table.append(row)
        better = best is None or row["photo_held_out"] > best[0]["photo_held_out"]
        if row["drawn_held_out"] >= args.min_drawn and better:
            best = (row, model)
    if best is None:
        raise SystemExit(f"no alpha keeps the drawn scenes' held-out Dice >= {args.min_drawn}: {table}")
    return best[1], {"init": args.init, "chosen": best[0]["alpha"], "min_drawn": args.min_drawn, "table": table}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="the --out folder of training.train")
    ap.add_argument("--which", choices=["last", "best"], default="last")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--drawn", type=Path, required=True, help="drawn scenes trained on (their held-out split)")
    ap.add_argument("--drawn-test", type=Path, required=True, help="drawn scenes never trained on")
    ap.add_argument("--alphas", help="comma-separated interpolation weights to choose from (see above)")
    ap.add_argument("--init", default="default", help="the run's starting model, for --alphas")
    ap.add_argument("--photo", type=Path, action="append", default=[], help="photo-like sets trained on")
    ap.add_argument("--min-drawn", type=float, default=0.93)
    args = ap.parse_args(argv)

    model, spec, meta = load_checkpoint(args.run / "best.pt")  # spec and how the run was started
    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines() if line.strip()]
    if args.which == "last":
        state = torch.load(args.run / "last.pt", map_location="cpu", weights_only=False)
        model = UNet(spec.width, spec.context)
        model.load_state_dict(state["model"])
        entry = next(e for e in reversed(log) if e["step"] == state["step"])
    else:
        entry = next(e for e in log if e["step"] == meta["steps"])
    meta = {**meta, "steps": entry["step"], "weights": args.which,
            "held_out_training_mix": {k: entry[k] for k in ("dice", "iou", "images")},
            "trained_on": datetime.date.today().isoformat()}
    if args.alphas:
        model, meta["interpolation"] = choose_alpha(model, spec, args)
    save_checkpoint(args.out, model, spec, meta, half=True)
    shipped, spec, _ = load_checkpoint(args.out)  # score what ships: FP16 weights
    device = torch.device("cpu")
    meta["held_out"] = evaluate(shipped, spec, held_out_loader(args.drawn, spec, 0.1), device)
    meta["drawn_test"] = evaluate(shipped, spec, held_out_loader(args.drawn_test, spec, 1.0), device)
    save_checkpoint(args.out, shipped, spec, meta, half=True)
    print(json.dumps({k: meta[k] for k in ("steps", "weights", "held_out_training_mix", "held_out", "drawn_test")}))


if __name__ == "__main__":
    main()
