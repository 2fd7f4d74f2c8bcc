"""Toy MVSNet/DTU scenes: cam files, pair.txt, images and depth PFMs of cameras on a circle."""

import numpy as np
import torch
from PIL import Image

from recon.data.formats.pfm import write_pfm
from recon.geometry.cameras import look_at

H, W = 12, 16
K_TRUE = np.array([[20.5, 0.25, 7.75], [0.0, 21.0, 5.5], [0.0, 0.0, 1.0]])


def make_poses(n: int = 3) -> np.ndarray:
    """(n, 4, 4) world-to-camera poses on a circle of radius 5 around the origin, looking at it."""
    angles = torch.linspace(0, 2.0, n, dtype=torch.float64)
    eyes = torch.stack([5 * torch.cos(angles), 5 * torch.sin(angles), torch.full_like(angles, 1.5)], -1)
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return look_at(eyes, torch.zeros(3, dtype=torch.float64), up).numpy()


def rows(matrix) -> str:
    return "\n".join(" ".join(repr(float(v)) for v in row) for row in matrix)


def cam_text(T_cw, K=K_TRUE, depth_line="425 2.5 128 935") -> str:
    text = f"extrinsic\n{rows(T_cw)}\n\nintrinsic\n{rows(K)}\n"
    return text + (f"\n{depth_line}\n" if depth_line is not None else "")


def write_scene(root, poses, ext=".jpg", pairs=True, depth_views=(0,)):
    (root / "cams").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "depths").mkdir()
    rng = np.random.default_rng(0)
    for i, T_cw in enumerate(poses):
        (root / "cams" / f"{i:08d}_cam.txt").write_text(cam_text(T_cw))
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{i:08d}{ext}")
        if i in depth_views:
            write_pfm(root / "depths" / f"{i:08d}.pfm", np.full((H, W), 430.0 + i, np.float32))
    if pairs:  # DTU-style: trailing spaces, sources best first
        (root / "pair.txt").write_text("3\n0\n2 1 2518.5 2 1004.25 \n1\n2 0 2518.5 2 30.0 \n2\n1 1 7.0 \n")
