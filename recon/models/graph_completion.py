"""Graph-network completion: EdgeConv layers on the partial cloud, image features attached to each point by
projection, and a coarse-to-fine decoder for the missing part (DGCNN encoder, PCN-style decoder).

1. Nodes: ``num_nodes`` points of the partial cloud (a random subset; the datamodule's order is random), or, where the
   item has no depth, a sphere of radius 0.5 at ``(0, 0, init_depth)`` -- the image alone then decides the shape.
2. Each node gets its coordinates relative to the nodes' centroid (the anchor) and, with the image, the features of
   a small CNN sampled where the node projects (``K``; bilinear, zero outside the image, zero without an image).
3. EdgeConv layers (:class:`~recon.models.blocks.graph.EdgeConv`): the first on the 3D k-NN graph, the others on
   graphs rebuilt in feature space (dynamic, DGCNN); their outputs concatenated, max- and mean-pooled to a code.
4. Coarse: a fully connected layer gives ``num_coarse`` points of the missing part; fine: each coarse point is
   unfolded into ``fold x fold`` points by an MLP on (code, coarse point, 2D grid offset) (PCN's folding).
5. Output ``points``: with depth, every measured point (``partial_points``, K of them, kept as measured) followed by
   the fine points, ``K + num_coarse * fold**2`` in all (without depth, the fine points only), in the camera frame;
   ``coarse`` (B, num_coarse, 3) too.

``modalities`` chooses the inputs: ``depth`` (``partial_points``, ``has_depth``), ``image`` (``image``,
``has_image``, ``K``), or both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.geometry.cameras import project
from recon.geometry.pointcloud import fibonacci_sphere
from recon.models.blocks import NORMS, check_positive, conv_norm_act
from recon.models.blocks.graph import EdgeConv, knn_graph
from recon.models.blocks.modalities import MODALITIES, check_modalities, measured_then_decoded


class GraphCompletion(nn.Module):
    """Partial cloud (+ image) -> completed cloud (module docstring).

    Args:
        modalities: a non-empty subset of ``("image", "depth")``.
        num_nodes: graph nodes taken from the partial cloud.
        k: neighbours per node.
        widths: EdgeConv output widths.
        code_dim: width of the pooled code.
        image_channels, norm: the image CNN's feature channels (1/4 resolution) and normalisation.
        num_coarse, fold: coarse missing points and the side of each one's fine grid.
        grid_scale: half-size of the folding grid (scene units).
        init_depth: where the sphere of nodes sits without depth.
    """

    problem = "multi_modal"

    def __init__(
        self,
        modalities: tuple[str, ...] = MODALITIES,
        num_nodes: int = 256,
        k: int = 16,
        widths: tuple[int, ...] = (64, 64, 128),
        code_dim: int = 512,
        image_channels: int = 32,
        norm: str = "batch",
        num_coarse: int = 192,
        fold: int = 2,
        grid_scale: float = 0.05,
        init_depth: float = 3.2,
    ):
        super().__init__()
        modalities = check_modalities(modalities)
        check_positive(num_nodes=num_nodes, num_coarse=num_coarse, fold=fold, code_dim=code_dim)
        if not widths or k < 1 or k >= num_nodes:
            raise ValueError(f"model.widths must be non-empty and 1 <= model.k < model.num_nodes, got {widths}, {k}")
        if norm not in NORMS:
            raise ValueError(f"model.norm must be one of {NORMS}, got {norm!r}")
        self.modalities, self.num_nodes, self.num_coarse, self.fold = modalities, num_nodes, num_coarse, fold
        self.num_points = num_coarse * fold * fold
        keys: list[str] = []
        point_dim = 3
        if "image" in modalities:
            c = image_channels
            self.image_net = nn.Sequential(
                conv_norm_act(3, c // 2, norm),
                conv_norm_act(c // 2, c, norm, stride=2),
                conv_norm_act(c, c, norm),
                conv_norm_act(c, c, norm, stride=2),
                conv_norm_act(c, c, norm, relu=False),
            )
            keys += ["image", "has_image", "K"]
            point_dim += c
        if "depth" in modalities:
            keys += ["partial_points", "has_depth"]
        self.inputs = tuple(keys)
        layers, c_in = [], point_dim
        for width in widths:
            layers.append(EdgeConv(c_in, width, k))
            c_in = width
        self.edge_convs = nn.ModuleList(layers)
        self.k = k
        self.pool = nn.Sequential(nn.Linear(2 * sum(widths), code_dim), nn.ReLU(inplace=True))
        self.coarse = nn.Sequential(
            nn.Linear(code_dim, code_dim), nn.ReLU(inplace=True), nn.Linear(code_dim, num_coarse * 3)
        )
        # the folding MLP on [code, coarse point, grid offset]; its first layer is split so that the code's product
        # is computed once per item, not once per fine point
        self.fold_code = nn.Linear(code_dim, 256)
        self.fold_point = nn.Linear(3 + 2, 256, bias=False)
        self.folding = nn.Sequential(
            nn.ReLU(inplace=True), nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Linear(128, 3)
        )
        side = torch.linspace(-grid_scale, grid_scale, fold)
        self.register_buffer("grid", torch.stack(torch.meshgrid(side, side, indexing="ij"), -1).view(-1, 2), False)
        self.register_buffer("sphere", 0.5 * fibonacci_sphere(num_nodes), persistent=False)
        self.register_buffer("default_anchor", torch.tensor([0.0, 0.0, float(init_depth)]), persistent=False)

    def nodes(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Graph nodes ``(B, num_nodes, 3)`` in the camera frame and whether they were measured ``(B,)``."""
        template = self.sphere + self.default_anchor
        if "depth" not in self.modalities:
            B = len(batch["image"])
            return template.expand(B, -1, -1), torch.zeros(B, dtype=torch.bool, device=template.device)
        partial, measured = batch["partial_points"], batch["has_depth"].bool()
        if partial.shape[1] < self.num_nodes:
            raise ValueError(f"partial_points has {partial.shape[1]} points, model.num_nodes needs {self.num_nodes}")
        nodes = torch.where(measured[:, None, None], partial[:, : self.num_nodes], template)
        return nodes, measured

    def image_features(self, nodes: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """Features of the image CNN where each node projects: ``(B, num_nodes, C)`` (0 without an image)."""
        image = batch["image"]
        H, W = image.shape[-2:]
        features = self.image_net(image * 2 - 1)
        uv = project(nodes, batch["K"].to(nodes.dtype))
        grid = torch.stack([(uv[..., 0] + 0.5) / W * 2 - 1, (uv[..., 1] + 0.5) / H * 2 - 1], dim=-1)
        sampled = F.grid_sample(features, grid[:, :, None], align_corners=False, padding_mode="zeros")[..., 0]
        present = batch["has_image"].to(sampled.dtype)[:, None, None]
        return sampled.transpose(1, 2) * present

    def forward(self, **batch: Tensor) -> dict[str, Tensor]:
        nodes, measured = self.nodes(batch)
        anchor = nodes.mean(1)
        x = nodes - anchor[:, None]
        if "image" in self.modalities:
            x = torch.cat([x, self.image_features(nodes, batch)], dim=-1)
        outputs = []
        spatial = knn_graph(nodes - anchor[:, None], self.k)
        for i, layer in enumerate(self.edge_convs):
            x = layer(x, spatial if i == 0 else None)
            outputs.append(x)
        features = torch.cat(outputs, dim=-1)
        code = self.pool(torch.cat([features.amax(1), features.mean(1)], dim=-1))
        coarse = self.coarse(code).view(-1, self.num_coarse, 3)
        G = self.fold * self.fold
        seeds = coarse[:, :, None].expand(-1, -1, G, -1)
        local = torch.cat([seeds, self.grid.expand(*seeds.shape[:2], -1, -1)], dim=-1)
        offsets = self.folding(self.fold_code(code)[:, None, None] + self.fold_point(local))
        fine = (seeds + offsets).reshape(-1, self.num_coarse * G, 3) + anchor[:, None]
        if "depth" in self.modalities:
            fine = measured_then_decoded(fine, batch["partial_points"], measured)
        return {"points": fine, "coarse": coarse + anchor[:, None]}
