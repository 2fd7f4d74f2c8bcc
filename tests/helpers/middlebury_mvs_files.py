"""Toy Middlebury multi-view datasets: a few cameras around the origin, their images and *_par.txt."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recon.geometry.cameras import look_at

H, W = 12, 16
K_TRUE = np.array([[20.5, 0.0, 7.75], [0.0, 21.25, 5.5], [0.0, 0.0, 1.0]])


def make_poses(n: int = 3) -> np.ndarray:
    angles = torch.linspace(0, 2.0, n, dtype=torch.float64)
    eyes = torch.stack([0.6 * torch.cos(angles), torch.full_like(angles, 0.2), 0.6 * torch.sin(angles)], -1)
    return look_at(
        eyes, torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    ).numpy()


def par_line(name, K, T_cw) -> str:
    values = [*K.ravel(), *T_cw[:3, :3].ravel(), *T_cw[:3, 3]]
    return name + " " + " ".join(repr(float(v)) for v in values)


def write_dataset(root, poses, lines=None) -> Path:
    for i in range(len(poses)):
        Image.fromarray(np.full((H, W), 30 * i, np.uint8)).save(root / f"toy{i:04d}.png")
    lines = [par_line(f"toy{i:04d}.png", K_TRUE, T) for i, T in enumerate(poses)] if lines is None else lines
    path = root / "toy_par.txt"
    path.write_text(f"{len(lines)}\n" + "\n".join(lines) + "\n")
    return path
