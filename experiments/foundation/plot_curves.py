"""Learning curve of a run from its csv/metrics.csv: `python plot_curves.py METRICS_CSV OUT_PNG [REFERENCE]`."""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(metrics_csv: str, out_png: str, reference: float | None = None) -> None:
    rows = list(csv.DictReader(open(metrics_csv)))
    train = [(int(r["epoch"]), float(r["train/loss"])) for r in rows if r.get("train/loss")]
    val = [(int(r["epoch"]), float(r["val/chamfer_l1"])) for r in rows if r.get("val/chamfer_l1")]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    epochs = {}
    for e, v in train:
        epochs.setdefault(e, []).append(v)
    ax.plot([e + 0.5 for e in epochs], [sum(v) / len(v) for v in epochs.values()], label="train loss (Chamfer-L1)")
    ax.plot([e + 1 for e, _ in val], [v for _, v in val], marker="o", ms=3, label="val Chamfer-L1")
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", label="non-learned reference (test)")
        ax.axhline(reference / 2, color="grey", ls=":", label="half the reference")
    ax.set_xlabel("epoch")
    ax.set_ylabel("Chamfer-L1 (scene units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else None)
