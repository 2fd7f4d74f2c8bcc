"""Analytic multi-view scenes for tests: textured planes seen by a few pinhole cameras, with exact depth maps.

:func:`plane_views` ray-casts one plane into every camera; :func:`scene_items` turns a scene into multi-view stereo
items (each camera once the reference view); :class:`PlaneScenesData` serves such items as a datamodule and
:class:`ConstantDepth` is a one-parameter stand-in model, :class:`Oracle` a perfect one. Items follow the
multi-view stereo contract (docs/ARCHITECTURE.md) plus ``scene`` () int64.
"""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from recon.geometry.cameras import camera_centers, look_at, pixel_grid

FREQUENCIES = torch.tensor([[3.0, 1.0, 0.5], [-1.0, 4.0, 2.0], [2.0, -2.5, 1.0]], dtype=torch.float64)


def texture(points: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] of world points ``(..., 3)`` on a plane -> ``(..., 3)`` (smooth, distinct per channel)."""
    return 0.5 + 0.45 * torch.sin(points.double() @ FREQUENCIES.T)


def plane_views(normal, offset: float, eyes, size=(12, 16), focal: float = 16.0) -> dict[str, torch.Tensor]:
    """Exact renderings of the plane ``n . x = offset`` (``n`` normalised) by cameras at ``eyes (V, 3)`` that look
    at the world origin. Returns ``depth (V, 1, H, W)``, ``K (V, 3, 3)``, ``T_cw (V, 4, 4)``,
    ``images (V, 3, H, W)`` (float32; computed in float64), ``normal (3,)``, ``points (V, H, W, 3)`` and
    ``seen_by_all (V, H, W)`` bool: the pixel's point projects inside every image (between the pixel centres)."""
    H, W = size
    n = torch.as_tensor(normal, dtype=torch.float64)
    n = n / n.norm()
    eyes = torch.as_tensor(eyes, dtype=torch.float64)
    V = len(eyes)
    T_cw = look_at(eyes, torch.zeros(3, dtype=torch.float64), torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64))
    K = torch.tensor([[focal, 0, (W - 1) / 2], [0, focal, (H - 1) / 2], [0, 0, 1]], dtype=torch.float64)
    rays_cam = pixel_grid(H, W, dtype=torch.float64) @ torch.linalg.inv(K).T  # (H*W, 3), z = 1
    rays = rays_cam @ T_cw[:, :3, :3]  # (V, H*W, 3) world directions
    centres = camera_centers(T_cw)  # (V, 3)
    s = (offset - centres @ n)[:, None] / (rays @ n)  # (V, H*W) = z-depth
    points = centres[:, None] + s[..., None] * rays
    cam = points[:, None] @ T_cw[:, :3, :3].transpose(-1, -2) + T_cw[:, None, :3, 3]  # [i, j]: i's in camera j
    uv = cam[..., :2] / cam[..., 2:] * focal + torch.tensor([(W - 1) / 2, (H - 1) / 2], dtype=torch.float64)
    tol = 1e-6  # a pixel's own projection lands on it up to rounding
    inside = (uv >= -tol).all(-1) & (uv[..., 0] <= W - 1 + tol) & (uv[..., 1] <= H - 1 + tol)
    return {
        "depth": s.reshape(V, 1, H, W).float(),
        "K": K.expand(V, 3, 3).float(),
        "T_cw": T_cw.float(),
        "images": texture(points).reshape(V, H, W, 3).permute(0, 3, 1, 2).float().contiguous(),
        "normal": n,
        "points": points.reshape(V, H, W, 3),
        "seen_by_all": inside.all(1).reshape(V, H, W),
    }


def scene_items(views: dict[str, torch.Tensor], scene: int, depth_range=(1.0, 6.0), first_index: int = 0):
    """One item per camera as the reference (view 0), the other cameras as sources in their order. ``points``:
    the exact surface points of every camera's pixels that all cameras see (their number differs between scenes:
    batch with :func:`collate`)."""
    V = len(views["depth"])
    points = views["points"][views["seen_by_all"]].float()
    items = []
    for ref in range(V):
        order = [ref] + [v for v in range(V) if v != ref]
        depth = views["depth"][ref]
        items.append(
            {
                "images": views["images"][order],
                "K": views["K"][order],
                "T_cw": views["T_cw"][order],
                "depth_range": torch.tensor(depth_range, dtype=torch.float32),
                "depth": depth,
                "mask": depth > 0,
                "points": points,
                "index": torch.tensor(first_index + ref),
                "scene": torch.tensor(scene),
            }
        )
    return items


EYES = [[0.0, 0.0, -3.0], [0.5, 0.0, -3.0], [0.0, 0.4, -3.2]]


def four_scenes(size=(12, 16)) -> list[dict[str, torch.Tensor]]:
    """Four planes of different tilt and offset, three cameras each: 12 items, scenes 0..3."""
    planes = [([0.0, 0.0, 1.0], 0.0), ([0.2, -0.1, 1.0], 0.3), ([-0.3, 0.2, 1.0], -0.2), ([0.1, 0.3, 1.0], 0.5)]
    items = []
    for scene, (normal, offset) in enumerate(planes):
        items += scene_items(plane_views(normal, offset, EYES, size), scene, first_index=len(items))
    return items


def collate(items: list[dict[str, torch.Tensor]]) -> dict:
    """Default collation, except ``points``: a list of (N_i, 3) clouds."""
    batch = default_collate([{k: v for k, v in item.items() if k != "points"} for item in items])
    return {**batch, "points": [item["points"] for item in items]}


class PlaneScenesData(pl.LightningDataModule):
    """The items of :func:`four_scenes` in every split (a wiring check, not a generalisation test)."""

    problem = "multi_view"

    def __init__(self, batch_size: int = 4):
        super().__init__()
        self.batch_size, self.items = batch_size, four_scenes()

    def train_dataloader(self):
        return DataLoader(self.items, batch_size=self.batch_size, shuffle=True, collate_fn=collate)

    def val_dataloader(self):
        return DataLoader(self.items, batch_size=self.batch_size, collate_fn=collate)

    test_dataloader = val_dataloader


class ConstantDepth(nn.Module):
    """Predicts one learnable depth everywhere (confidence 1); ``outputs`` > 1 adds ``depths`` at ``value / 2``,
    ..., ``value`` in training."""

    problem, inputs = "multi_view", ("images", "K", "T_cw", "depth_range")

    def __init__(self, value: float = 1.5, outputs: int = 1):
        super().__init__()
        self.value, self.outputs = nn.Parameter(torch.tensor(float(value))), outputs

    def forward(self, images, K, T_cw, depth_range):
        B, _, _, H, W = images.shape
        depth = self.value.expand(B, 1, H, W)
        out = {"depth": depth, "confidence": torch.ones(B, 1, H, W)}
        if self.training and self.outputs > 1:
            out["depths"] = [depth * (k + 1) / self.outputs for k in range(self.outputs)]
        return out


class Oracle(nn.Module):
    """Returns the ground-truth depth (a perfect model), confidence 1."""

    problem, inputs = "multi_view", ("images", "depth")

    def forward(self, images, depth):
        return {"depth": depth.clone(), "confidence": torch.ones_like(depth)}
