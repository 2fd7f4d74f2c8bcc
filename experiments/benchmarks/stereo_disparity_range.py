"""A stereo checkpoint on disparities twice its training range: bad-2 in range vs at 2x, with ``max_disparity=``.

    .venv/bin/python experiments/benchmarks/stereo_disparity_range.py [--ckpt zoo:gwc_stereo_synthetic] [--pairs 100]

The checkpoint was trained on recon's synthetic pairs at 128x256 with disparities 2-60 px (``max_disparity`` 64).
Both test sets come from the same generator and scene distribution (``data=stereo``, test split, seed 0):

- ``in range``: the training resolution, 128x256, disparities 2-60 px, evaluated with the model's own range (64);
- ``2x range``: the same kind of scenes rendered at twice the resolution, 256x512 (focal length doubled, so the
  field of view is unchanged), disparities 4-120 px, evaluated with ``max_disparity=128`` -- the search range a user
  gives ``recon-predict``/``recon-eval`` for such a pair. The weights are the same; only the cost volume is longer.

Each row is one ``recon-eval`` run (its ``summary.json`` is kept under ``--work``); SGBM (holes filled, the task's
reference) is scored in the same test loop at the same range. The acceptance figure is the ratio of the model's
bad-2 (all valid pixels) at 2x to in range: at most 1.3. Prints a markdown report and writes
``results/stereo_disparity_range_<zoo name or checkpoint stem>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {
    "in range": ["data.max_disparity=64"],
    "2x range": [
        "data.synthetic.image_size=[256,512]",
        "data.synthetic.focal_px=320.0",
        "data.synthetic.disparity_range=[4.0,120.0]",
        "data.max_disparity=128",
        "max_disparity=128",
    ],
}
METRICS = ("bad2_all", "bad2_noc", "epe_all")


def evaluate(ckpt: str, name: str, overrides: list[str], pairs: int, work: Path, threads: int) -> dict:
    run_dir = work / name.replace(" ", "_")
    command = [
        str(Path(sys.executable).parent / "recon-eval"),
        f"ckpt_path={ckpt}",
        "data=stereo",
        "data.synthetic.num_train=1",
        "data.synthetic.num_val=1",
        f"data.synthetic.num_test={pairs}",
        f"threads={threads}",
        "print_config=false",
        *overrides,
        f"hydra.run.dir={run_dir}",
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"metrics": summary["metrics"], "seconds": time.perf_counter() - start, "command": command}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", default="zoo:gwc_stereo_synthetic")
    parser.add_argument("--pairs", type=int, default=100, help="test pairs per setting")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="where the recon-eval run dirs go (default: temp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="stereo_range_"))
    rows = {
        name: evaluate(args.ckpt, name, overrides, args.pairs, work, args.threads)
        for name, overrides in SETTINGS.items()
    }

    lines = [
        f"# `{args.ckpt}` beyond its training disparity range",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {args.pairs} synthetic test pairs per "
        f"setting, {args.threads} threads. Command: `python experiments/benchmarks/stereo_disparity_range.py "
        f"--ckpt {args.ckpt} --pairs {args.pairs}`. In range: 128x256, disparities 2-60 px, search 0-64 px; 2x range: "
        "256x512, disparities 4-120 px, search 0-128 px (`max_disparity=128`), same weights.",
        "",
        "| setting | model bad-2 all (%) | model bad-2 noc (%) | model EPE all (px) | SGBM filled bad-2 all (%) | "
        "SGBM filled EPE all (px) | eval s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        m = row["metrics"]
        lines.append(
            f"| {name} | {m['test/bad2_all']:.2f} | {m['test/bad2_noc']:.2f} | {m['test/epe_all']:.3f} | "
            f"{m['test/reference/bad2_all']:.2f} | {m['test/reference/epe_all']:.3f} | {row['seconds']:.0f} |"
        )
    ratio = rows["2x range"]["metrics"]["test/bad2_all"] / rows["in range"]["metrics"]["test/bad2_all"]
    lines += ["", f"Model bad-2 (all) at 2x range / in range: **{ratio:.2f}x** (target <= 1.3x).", ""]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.ckpt.removeprefix("zoo:") if args.ckpt.startswith("zoo:") else Path(args.ckpt).stem
    (RESULTS / f"stereo_disparity_range_{name}.md").write_text(report)


if __name__ == "__main__":
    main()
