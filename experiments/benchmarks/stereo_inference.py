"""Inference time per 450x375 stereo pair: the learned stereo models against OpenCV SGBM, in one process.

    .venv/bin/python experiments/benchmarks/stereo_inference.py --threads 2 --repeats 10

The pair is the centre 375x450 (H x W) crop of the Middlebury 2014 Motorcycle pair that scikit-image ships (the
size of Middlebury's classic Teddy/Cones pairs). Every model is built from its Hydra config (``conf/model/``) at
each ``--max-disparity`` (weights are random: speed does not depend on them) and run in eval mode under
``torch.inference_mode`` with ``--threads`` torch and OpenCV threads. After two warm-up calls each, the models are
timed round-robin (A B C, A B C, ...) so that load from other tenants of the machine hits all of them alike; the
table gives the median and the spread (min-max) of ``--repeats`` calls and the ratio of the medians to SGBM's at
the same disparity range. Prints a markdown report and writes ``results/stereo_inference.md``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "stereo_inference.md"
MODELS = ("sgbm", "gwc_stereo", "gwc_stereo_refined", "sgbm_refined", "learned_sgm")
SIZE = (375, 450)


def pair() -> tuple[torch.Tensor, torch.Tensor]:
    from recon.data.formats import motorcycle_pair

    item, _ = motorcycle_pair()
    H, W = item["left"].shape[-2:]
    top, left = (H - SIZE[0]) // 2, (W - SIZE[1]) // 2
    crop = (..., slice(top, top + SIZE[0]), slice(left, left + SIZE[1]))
    return item["left"][crop][None].contiguous(), item["right"][crop][None].contiguous()


def build(name: str, max_disparity: int) -> torch.nn.Module:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}", f"model.max_disparity={max_disparity}"])
    return instantiate(cfg.model).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--max-disparity", type=int, nargs="+", default=[64, 192])
    args = parser.parse_args()
    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    left, right = pair()
    models = {(name, D): build(name, D) for D in args.max_disparity for name in MODELS}
    times: dict[tuple[str, int], list[float]] = {key: [] for key in models}
    with torch.inference_mode():
        for model in models.values():
            for _ in range(2):
                model(left, right)
        for _ in range(args.repeats):
            for key, model in models.items():
                start = time.perf_counter()
                model(left, right)
                times[key].append(time.perf_counter() - start)

    lines = [
        f"# Stereo inference per {SIZE[1]}x{SIZE[0]} pair",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, OpenCV {cv2.__version__}, {args.threads} threads, median of "
        f"{args.repeats} round-robin calls after 2 warm-up calls each. Command: "
        f"`python experiments/benchmarks/stereo_inference.py --threads {args.threads} --repeats {args.repeats}`",
        "",
        "| model | max disparity | median s/pair | min-max s | x SGBM |",
        "|---|---|---|---|---|",
    ]
    for (name, D), samples in times.items():
        median = statistics.median(samples)
        ratio = median / statistics.median(times[("sgbm", D)])
        lines.append(f"| {name} | {D} | {median:.3f} | {min(samples):.3f}-{max(samples):.3f} | {ratio:.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
