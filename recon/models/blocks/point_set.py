"""Pieces of the single-view point-cloud models: the size check and the fully connected point-set decoder."""

import torch
from torch import nn

from recon.geometry.pointcloud import fibonacci_sphere


def check_positive(**sizes: float) -> None:
    """Raise a ValueError naming every size in ``sizes`` unless all of them are > 0."""
    if not all(v > 0 for v in sizes.values()):
        *names, last = sizes
        got = ", ".join(str(v) for v in sizes.values())
        raise ValueError(f"{', '.join(names)} and {last} must be positive, got {got}")


def point_set_decoder(in_dim: int, hidden_dim: int, num_points: int) -> nn.Sequential:
    """MLP ``(..., in_dim) -> (..., num_points * 3)`` (PSGN's fully connected branch), its output bias set to points
    spread on a sphere of radius 0.5, not a clump that can get stuck inside the object."""
    decoder = nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, num_points * 3),
    )
    with torch.no_grad():
        decoder[-1].bias.copy_(0.5 * fibonacci_sphere(num_points).flatten())
    return decoder
