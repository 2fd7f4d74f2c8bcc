"""Contact sheet of synthetic samples (rgb over depth) for eyeballing the generator.

``python -m recon.data.synthetic.preview OUT.png [--n 32] [--mesh-dir DIR] [--size 64] [--seed 0]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def contact_sheet(data: dict[str, np.ndarray], path: str | Path, n: int = 32, cols: int = 8, view: int = 0) -> Path:
    """Save rgb (top) and z-depth (below, background blank) of the first ``n`` scenes as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n, len(data["rgb"]))
    rows = -(-n // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        top.imshow(data["rgb"][i, view])
        top.set_title(f"{data['family'][i]}:{data['kind'][i]}"[:22], fontsize=8)
        depth = np.where(data["mask"][i, view], data["depth"][i, view], np.nan)
        bottom.imshow(depth, cmap="viridis")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return Path(path)


def main() -> None:
    from .config import SyntheticConfig
    from .generator import generate_split

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mesh-dir", default=None)
    a = p.parse_args()
    cfg = SyntheticConfig(num_train=a.n, image_size=(a.size, a.size), seed=a.seed, mesh_dir=a.mesh_dir)
    print(contact_sheet(generate_split(cfg, "train", progress=False), a.out, a.n))


if __name__ == "__main__":
    main()
