"""The tables of docs/carvana_all_views.md from `training.evaluate_carvana --json` rows (every view of the Carvana
evaluation cars): means by view, by car and every photo, beside an earlier run's rows where given.

    python -m training.evaluate_carvana --json rows.jsonl          # all 512 photos: about 25 min on 2 cores
    python scripts/carvana_views_doc.py rows.jsonl [--previous OLD.jsonl --label "4b2b51b"] > tables.md
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

from training.carvana import view_of
from training.evaluate_carvana import mean_cell

KEYS = ("dice", "boundary_iou", "far_false_pct")  # the rows of earlier runs have no SAD
FAR_LIMIT = 0.1  # % of the pixels: the bound on the false matte far from the car


def read(path: Path) -> dict[str, dict]:
    return {r["image"]: r for r in map(json.loads, path.read_text().splitlines())}


def cell(rows: Iterable[dict]) -> str:
    return mean_cell(rows, KEYS)


def tables(rows: dict[str, dict], previous: dict[str, dict] | None = None, label: str = "previous") -> str:
    old = previous or {}
    lines = [f"**All {len(rows)}: {cell(rows.values())}** (Dice / Boundary IoU / far false %"
             + (f"; {label} {cell(old[k] for k in rows if k in old)})" if old else ")"),
             "", "## By view", "",
             "| view | Dice / Boundary IoU / far false % | " + (f"{label} | " if old else "")
             + f"photos with far false > {FAR_LIMIT}% |",
             "|---|---|" + ("---|" if old else "") + "---|"]
    for v in sorted({view_of(k) for k in rows}):
        these = [k for k in rows if view_of(k) == v]
        far = sum(rows[k]["far_false_pct"] > FAR_LIMIT for k in these)
        lines.append(f"| {v:02d} | {cell(rows[k] for k in these)} | "
                     + (f"{cell(old[k] for k in these if k in old)} | " if old else "") + f"{far} |")
    far = sum(r["far_false_pct"] > FAR_LIMIT for r in rows.values())
    lines.append(f"| **all ({len(rows)} photos)** | **{cell(rows.values())}** | "
                 + (f"{cell(old[k] for k in rows if k in old)} | " if old else "") + f"{far} |")
    lines += ["", "## By car (mean of its views)", "", "| car | Dice / Boundary IoU / far false % |", "|---|---|"]
    for car in sorted({r["car"] for r in rows.values()}):
        lines.append(f"| {car} | {cell(r for r in rows.values() if r['car'] == car)} |")
    lines += ["", "## Every photo", "", "| image | Dice | Boundary IoU | far false % |", "|---|---|---|---|"]
    for k in sorted(rows):
        r = rows[k]
        lines.append(f"| {k} | {r['dice']:.4f} | {r['boundary_iou']:.3f} | {r['far_false_pct']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", type=Path, help="training.evaluate_carvana --json rows")
    ap.add_argument("--previous", type=Path, help="an earlier run's rows, shown beside")
    ap.add_argument("--label", default="previous", help="what to call the earlier run")
    args = ap.parse_args(argv)
    print(tables(read(args.rows), read(args.previous) if args.previous else None, args.label), end="")


if __name__ == "__main__":
    main()
