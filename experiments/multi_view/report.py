"""One table for the multi-view study: the trained MVS network next to the plane-sweep ZNCC baseline on the synthetic
test split (depth and fused-cloud metrics from the run's own test), with the time per reference view.

    .venv/bin/python experiments/multi_view/report.py logs/multi_view_mvsnet/runs/<run> --out experiments/multi_view

The metrics are the run's ``summary.json`` (``test/*`` for the network, ``test/reference/*`` for the plane sweep,
scored in the same test loop). Time per reference view: both models (the checkpoint's network and the task's own
plane-sweep instance) run one item at a time on the first ``--timed-items`` test items, round-robin, under
``torch.inference_mode`` with ``--threads`` threads; medians. Writes ``results.md`` and ``results.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import torch

KEYS = (
    ("abs_rel", "AbsRel"),
    ("delta1", "δ<1.25 (%)"),
    ("accuracy", "accuracy"),
    ("completeness", "completeness"),
    ("overall", "overall"),
    ("fscore", "F-score"),
    ("fused_points", "fused points"),
    ("empty_clouds", "empty clouds"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timed-items", type=int, default=20)
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        help="take the metrics from this summary.json instead (e.g. a recon-eval of the run)",
    )
    parser.add_argument("--name", default="results", help="output file stem")
    args = parser.parse_args()
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from recon.engine.checkpoint import load_checkpoint, restore_task

    torch.set_num_threads(args.threads)
    summary = json.loads((args.run / "summary.json").read_text())
    task = restore_task(load_checkpoint(summary["checkpoints"]["best"])).eval()
    datamodule = instantiate(OmegaConf.load(args.run / "config_resolved.yaml").data)
    datamodule.setup("test")
    test = datamodule.datasets["test"]
    models = {"model": task.model, "reference": task.reference}
    times = {name: [] for name in models}
    with torch.inference_mode():
        for i in range(args.timed_items):
            item = test[i]
            inputs = {k: item[k][None] for k in task.model.inputs}
            for name, model in models.items():
                start = time.perf_counter()
                model(**inputs)
                times[name].append(time.perf_counter() - start)

    m = json.loads(args.metrics.read_text())["metrics"] if args.metrics else summary["metrics"]
    rows = []
    for name, label, prefix in (
        ("model", summary["model_family"], "test/"),
        ("reference", "plane sweep ZNCC (reference)", "test/reference/"),
    ):
        rows.append(
            {
                "model": label,
                **{key: m.get(prefix + key) for key, _ in KEYS},
                "s_per_view": statistics.median(times[name]),
            }
        )
    with open(args.out / f"{args.name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    H, W = test[0]["images"].shape[-2:]
    header = "| model | " + " | ".join(label for _, label in KEYS) + f" | s / reference view ({W}x{H}) |"
    lines = [header, "|" + "---|" * (len(KEYS) + 2)]
    for r in rows:
        cells = [f"{r[key]:.4g}" if isinstance(r[key], float) else str(r[key]) for key, _ in KEYS]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['s_per_view']:.3f} |")
    table = "\n".join(lines) + "\n"
    (args.out / f"{args.name}.md").write_text(table)
    print(table)
    print(
        f"epochs {summary.get('epochs')}, training {summary['wall_time_s'] / 60:.1f} min, "
        f"{len(datamodule.split_ids()['test'])} test items"
    )


if __name__ == "__main__":
    main()
