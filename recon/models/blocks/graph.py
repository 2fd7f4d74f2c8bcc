"""Graph layers on point sets: k-nearest-neighbour graphs and EdgeConv (Wang et al., "Dynamic Graph CNN for Learning
on Point Clouds", ACM TOG 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
    neighbours passed to :meth:`forward` are used.

    The MLP's first layer is linear in ``[x_i, x_j - x_i]``, so it is applied per point, ``(W_a - W_b) x_i + W_b x_j``,
    and only the sum is gathered per edge (same function, ``k`` times fewer products)."""

    def __init__(self, c_in: int, c_out: int, k: int = 16):
        super().__init__()
        self.k = k
        self.first = nn.Linear(2 * c_in, c_out)
        self.rest = nn.Sequential(nn.LayerNorm(c_out), nn.LeakyReLU(0.2), nn.Linear(c_out, c_out))

    def forward(self, x: Tensor, neighbours: Tensor | None = None) -> Tensor:
        index = knn_graph(x, self.k) if neighbours is None else neighbours
        w_centre, w_offset = self.first.weight.split(x.shape[-1], dim=1)
        centre = F.linear(x, w_centre - w_offset, self.first.bias)
        neighbour = F.linear(x, w_offset)
        edges = centre[:, :, None] + gather_neighbours(neighbour, index)
        return self.rest(edges).amax(dim=2)
