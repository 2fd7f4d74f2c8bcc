"""One table for the stereo study: every trained model next to OpenCV SGBM, on the synthetic test split and on
the real Middlebury 2014 Motorcycle pair, with the time per pair.

    .venv/bin/python experiments/stereo_families/report.py logs/stereo_families/multiruns/<time> [<more sweeps>] \
        --out experiments/stereo_families

For each run of the sweeps (``<dir>/<job>/summary.json``), labelled by its model class (and its refinement
setting where the model has one):

1. Synthetic test split: the run's own test metrics (its best val-EPE checkpoint) and SGBM's, scored in the same
   test loop (``test/reference/*``).
2. Motorcycle: ``recon-eval ckpt_path=<best> data=stereo_motorcycle`` (the real console command) into
   ``logs/stereo_families/eval_motorcycle/<sweep>_<job>``; the same evaluation scores SGBM beside it.
3. Time per pair: the checkpoint's model and SGBM (the task's own reference instance) run one pair at a time on
   the first ``--timed-pairs`` synthetic test pairs and on the Motorcycle pair, round-robin, under
   ``torch.inference_mode`` with ``--threads`` threads; medians.

Writes ``results.md`` / ``results.csv`` and ``motorcycle.png`` (left | ground truth | every model | SGBM, with
bad-2 in the titles) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
SGBM = "OpenCV SGBM (reference)"


def label(summary: dict) -> str:
    model = summary["config"]["model"]
    if "refine_channels" in model or model["_target_"].endswith("LearnedSGMStereo"):
        return summary["model_family"] + (" + refinement" if model.get("refine_channels") else " (SGM only)")
    return summary["model_family"]


def runs(sweeps: list[Path]) -> list[dict]:
    found = []
    for path in sorted(p for sweep in sweeps for p in sweep.glob("*/summary.json")):
        summary = json.loads(path.read_text())
        if summary.get("status") != "completed" or not summary.get("checkpoints", {}).get("best"):
            print(f"skipping {path.parent}: status {summary.get('status')}, no best checkpoint", file=sys.stderr)
            continue
        summary["run_dir"] = str(path.parent)  # where it is now (the recorded one may have moved)
        found.append(summary)
    if not found:
        raise SystemExit(f"no completed runs with a checkpoint under {', '.join(map(str, sweeps))}")
    return found


def recon_eval(ckpt: str, out: Path) -> dict:
    if not (out / "summary.json").is_file():
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "recon-eval"),
                f"ckpt_path={ckpt}",
                "data=stereo_motorcycle",
                f"hydra.run.dir={out}",
                "print_config=false",
            ],
            check=True,
            cwd=ROOT,
        )
    return json.loads((out / "summary.json").read_text())["metrics"]


def median_times(models: dict[str, torch.nn.Module], pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    times = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            model(*pairs[0])
        for left, right in pairs:
            for name, model in models.items():
                start = time.perf_counter()
                model(left, right)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweeps", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "stereo_families")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timed-pairs", type=int, default=20)
    args = parser.parse_args()
    import cv2
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from recon.data.formats import motorcycle_pair
    from recon.engine.checkpoint import load_checkpoint, restore_task
    from recon.viz.stereo import DISPARITY_CMAP, INVALID_COLOR

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    studied = runs(args.sweeps)
    motorcycle, _ = motorcycle_pair()
    moto_pair = (motorcycle["left"][None], motorcycle["right"][None])

    config = OmegaConf.load(Path(studied[0]["run_dir"]) / "config_resolved.yaml")
    datamodule = instantiate(config.data)
    datamodule.setup("test")
    test = datamodule.datasets["test"]
    synthetic_pairs = [(test[i]["left"][None], test[i]["right"][None]) for i in range(args.timed_pairs)]

    rows, predictions = [], {}
    for summary in studied:
        name = label(summary)
        task = restore_task(load_checkpoint(summary["checkpoints"]["best"])).eval()
        model, sgbm = task.model, task.reference
        run = Path(summary["run_dir"])
        moto = recon_eval(
            summary["checkpoints"]["best"],
            ROOT / "logs" / "stereo_families" / "eval_motorcycle" / f"{run.parent.name}_{run.name}",
        )
        t_syn = median_times({"model": model, "sgbm": sgbm}, synthetic_pairs)
        t_moto = median_times({"model": model, "sgbm": sgbm}, [moto_pair] * 5)
        with torch.inference_mode():
            predictions[name] = model(*moto_pair)["disparity"][0, 0]
            predictions[SGBM] = sgbm(*moto_pair)["disparity"][0, 0]
        m = summary["metrics"]
        rows.append(
            {
                "model": name,
                "epochs": summary.get("epochs"),
                "train_min": round(summary["wall_time_s"] / 60, 1),
                "syn_epe": m["test/epe_all"],
                "syn_bad2": m["test/bad2_all"],
                "syn_s": t_syn["model"],
                "moto_epe": moto["test/epe_all"],
                "moto_bad2": moto["test/bad2_all"],
                "moto_s": t_moto["model"],
            }
        )
        reference = {
            "model": SGBM,
            "epochs": None,
            "train_min": None,
            "syn_epe": m["test/reference/epe_all"],
            "syn_bad2": m["test/reference/bad2_all"],
            "syn_s": t_syn["sgbm"],
            "moto_epe": moto["test/reference/epe_all"],
            "moto_bad2": moto["test/reference/bad2_all"],
            "moto_s": t_moto["sgbm"],
        }
    rows.append(reference)

    fields = list(rows[0])
    with open(args.out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| model | epochs | training (min) | synthetic EPE (px) | synthetic bad-2 (%) | s/pair 256x128 | "
        "Motorcycle EPE (px) | Motorcycle bad-2 (%) | s/pair 741x500 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['epochs'] or '-'} | {r['train_min'] or '-'} | {r['syn_epe']:.2f} | "
            f"{r['syn_bad2']:.1f} | {r['syn_s']:.3f} | {r['moto_epe']:.2f} | {r['moto_bad2']:.1f} | "
            f"{r['moto_s']:.3f} |"
        )
    table = "\n".join(lines) + "\n"
    (args.out / "results.md").write_text(table)
    print(table)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    valid = motorcycle["valid"][0].numpy()
    gt = motorcycle["disparity"][0].numpy()
    panels = [("left", motorcycle["left"].permute(1, 2, 0).numpy()), ("ground truth", np.where(valid, gt, np.nan))] + [
        (k, v.numpy()) for k, v in predictions.items()
    ]
    bad2 = {r["model"]: r["moto_bad2"] for r in rows}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.6), layout="constrained")
    cmap = plt.get_cmap(DISPARITY_CMAP).with_extremes(bad=INVALID_COLOR)
    for ax, (title, image) in zip(axes, panels):
        if image.ndim == 3:
            ax.imshow(image)
        else:
            ax.imshow(image, cmap=cmap, vmin=0, vmax=float(gt[valid].max()))
        ax.set_title(title + (f"\nbad-2 {bad2[title]:.1f}%" if title in bad2 else ""), fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.savefig(args.out / "motorcycle.png", dpi=110)
    print(f"wrote {args.out / 'results.md'}, results.csv, motorcycle.png")


if __name__ == "__main__":
    main()
