"""Graph layers on point sets: k-nearest-neighbour graphs and EdgeConv (Wang et al., "Dynamic Graph CNN for Learning
on Point Clouds", ACM TOG 2019)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def knn_graph(features: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` nearest neighbours of every point, itself excluded, by Euclidean distance in feature
    space: ``(B, N, C) -> (B, N, k)`` long. Needs ``N > k``."""
    count = features.shape[1]
    if count <= k:
        raise ValueError(f"a {k}-nearest-neighbour graph needs more than {k} points, got {count}")
    distance = torch.cdist(features, features)
    distance.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return distance.topk(k, dim=-1, largest=False).indices


def gather_neighbours(features: Tensor, index: Tensor) -> Tensor:
    """``features (B, N, C)``, ``index (B, N, k)`` -> ``(B, N, k, C)``."""
    B, N, k = index.shape
    flat = index.reshape(B, N * k, 1).expand(-1, -1, features.shape[-1])
    return torch.gather(features, 1, flat).view(B, N, k, -1)


class EdgeConv(nn.Module):
    """``x_i' = max_j MLP([x_i, x_j - x_i])`` over the ``k`` nearest neighbours ``j`` of ``i``: ``(B, N, C_in) ->
    (B, N, C_out)``. ``dynamic``: the graph is rebuilt from this layer's input features (DGCNN); otherwise the
    neighbours passed to :meth:`forward` are used."""

    def __init__(self, c_in: int, c_out: int, k: int = 16):
        super().__init__()
        self.k = k
        self.mlp = nn.Sequential(
            nn.Linear(2 * c_in, c_out), nn.LayerNorm(c_out), nn.LeakyReLU(0.2), nn.Linear(c_out, c_out)
        )

    def forward(self, x: Tensor, neighbours: Tensor | None = None) -> Tensor:
        index = knn_graph(x, self.k) if neighbours is None else neighbours
        centre = x[:, :, None].expand(-1, -1, index.shape[-1], -1)
        edges = torch.cat([centre, gather_neighbours(x, index) - centre], dim=-1)
        return self.mlp(edges).amax(dim=2)
