"""Checks of a fused cloud that need no ground-truth surface (real image sets such as the Middlebury dino):
the share of points inside the object's bounding box, and the agreement of the points with object silhouettes."""

import numpy as np
import torch
from scipy import ndimage

from recon.geometry.cameras import project, transform_points


def in_box_fraction(points: torch.Tensor, box: torch.Tensor) -> float:
    """Fraction of ``points`` (N, 3) inside the axis-aligned ``box`` (2, 3) ``[min corner, max corner]``; NaN for
    no point."""
    if len(points) == 0:
        return float("nan")
    inside = ((points >= box[0]) & (points <= box[1])).all(dim=1)
    return float(inside.float().mean())


def dark_background_silhouettes(images: torch.Tensor, threshold: float, dilate: int = 10, erode: int = 7):
    """Object masks (V, H, W) bool of images (V, 3, H, W) in [0, 1] shot against a black background: grey value
    above ``threshold``, dilated by ``dilate`` px, then eroded by ``erode`` px (the Middlebury multi-view sets'
    recipe, which keeps the silhouettes conservative: dark shadows on the object stay inside)."""
    grey = images.mean(dim=1).cpu().numpy() > threshold
    disk = lambda r: np.hypot(*np.mgrid[-r : r + 1, -r : r + 1]) <= r  # noqa: E731
    masks = []
    for mask in grey:
        if dilate:
            mask = ndimage.binary_dilation(mask, structure=disk(dilate))
        if erode:
            mask = ndimage.binary_erosion(mask, structure=disk(erode), border_value=1)
        masks.append(mask)
    return torch.from_numpy(np.stack(masks)).to(images.device)


def silhouette_agreement(points: torch.Tensor, K: torch.Tensor, T_cw: torch.Tensor, masks: torch.Tensor) -> float:
    """Of all (point, view) pairs where the point (N, 3, world frame) projects in front of view ``v``'s camera
    (``K`` (V, 3, 3), ``T_cw`` (V, 4, 4) world-to-camera) and inside its image, the fraction landing on that view's
    object mask (``masks`` (V, H, W) bool; nearest pixel). 1 for a cloud consistent with every silhouette; NaN for
    no such pair."""
    V, H, W = masks.shape
    if len(points) == 0:
        return float("nan")
    cam = transform_points(T_cw.to(points.dtype), points[None].expand(V, -1, -1))  # (V, N, 3)
    front = cam[..., 2] > 0
    safe = torch.cat([cam[..., :2], cam[..., 2:].clamp(min=1e-9)], dim=-1)  # points behind are dropped by `front`
    uv = project(safe, K.to(points.dtype)).round().long()
    u, v = uv[..., 0], uv[..., 1]
    seen = front & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    if not bool(seen.any()):
        return float("nan")
    view = torch.arange(V, device=u.device)[:, None].expand_as(u)
    on_mask = masks.to(u.device)[view[seen], v[seen], u[seen]]
    return float(on_mask.float().mean())
