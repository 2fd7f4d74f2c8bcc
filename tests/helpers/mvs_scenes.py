"""Analytic multi-view scenes: a randomly textured plane seen by a reference and S source cameras, with exact
reference depth. Items follow the multi-view contract (``docs/ARCHITECTURE.md``), so tests of multi-view models need
neither rendering libraries nor files."""

import math

import torch
import torch.nn.functional as F

from recon.geometry.cameras import intrinsics_from_focal, invert_pose, look_at
from recon.geometry.multiview import depth_to_world_points

EXTENT = 4.0  # the texture covers [-EXTENT, EXTENT]^2 in plane coordinates (world units)


def render_plane(
    texture: torch.Tensor, origin: torch.Tensor, axes: torch.Tensor, K: torch.Tensor, T_cw: torch.Tensor, H: int, W: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray-cast the plane ``origin + a axes[0] + b axes[1]`` textured with ``texture (3, h, w)`` over
    ``[-EXTENT, EXTENT]^2`` (bilinear, edge colours beyond) into one camera.

    Args:
        origin: (3,) a point of the plane; axes: (2, 3) orthonormal in-plane directions.
        K: (3, 3); T_cw: (4, 4).
    Returns:
        image (3, H, W) and z-depth (1, H, W) (0 where the plane is behind the camera or parallel to the rays).
    """
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    rays_cam = torch.stack([u, v, torch.ones_like(u)], -1) @ torch.linalg.inv(K.double()).T  # unit z
    T_wc = invert_pose(T_cw.double())
    rays = rays_cam @ T_wc[:3, :3].T
    centre = T_wc[:3, 3]
    normal = torch.linalg.cross(axes[0], axes[1]).double()
    t = ((origin.double() - centre) @ normal) / (rays @ normal)  # (H, W) z-depth (rays have z = 1)
    t = torch.where(torch.isfinite(t) & (t > 0), t, torch.zeros_like(t))
    points = centre + rays * t[..., None] - origin.double()
    grid = torch.stack([points @ axes[0].double(), points @ axes[1].double()], -1) / EXTENT
    image = F.grid_sample(
        texture[None].double(), grid[None], mode="bilinear", padding_mode="border", align_corners=False
    )[0]
    return image.float(), t[None].float()


def textured_plane_item(
    H: int, W: int, num_sources: int, seed: int, baseline: float = 0.8, tilt_deg: float = 25.0, texels: int = 64
) -> dict[str, torch.Tensor]:
    """A plane through the origin (normal tilted ``tilt_deg`` from world z, random azimuth) with a random RGB texture
    of ``texels``^2 cells smoothed over 3 (at the default 64 a texel spans about ``W / 32`` pixels), a reference
    camera about 4 units away looking at a point near the origin along world -z, and ``num_sources`` cameras on a
    circle of radius ``baseline`` around it looking at the same point; focal = W pixels. ``depth_range`` brackets
    the reference depths loosely (random margins)."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    texture = F.avg_pool2d(rnd(1, 3, texels + 2, texels + 2), 3, stride=1)[0].float()
    low, high = texture.amin((1, 2), keepdim=True), texture.amax((1, 2), keepdim=True)
    texture = 0.1 + 0.8 * (texture - low) / (high - low)
    tilt, azimuth = math.radians(tilt_deg), 2 * math.pi * float(rnd(()))
    normal = torch.tensor(
        [math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth), math.cos(tilt)], dtype=torch.float64
    )
    a0 = F.normalize(torch.linalg.cross(normal, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)), dim=0)
    axes = torch.stack([a0, torch.linalg.cross(normal, a0)])
    target = torch.cat([(rnd(2) - 0.5) * 0.4, torch.zeros(1, dtype=torch.float64)])
    distance = 3.5 + float(rnd(()))
    ref_eye = target + torch.tensor([0.0, 0.0, distance], dtype=torch.float64)
    angles = 2 * math.pi * (torch.arange(num_sources, dtype=torch.float64) / max(num_sources, 1) + rnd(()))
    offsets = torch.stack([torch.cos(angles), torch.sin(angles), torch.zeros_like(angles)], -1) * baseline
    eyes = torch.cat([ref_eye[None], ref_eye + offsets])
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(eyes)
    T_cw = look_at(eyes, target.expand_as(eyes), up).float()
    K = intrinsics_from_focal(float(W), H, W).expand(len(eyes), 3, 3).clone()
    rendered = [render_plane(texture, torch.zeros(3), axes, K[i], T_cw[i], H, W) for i in range(len(eyes))]
    images = torch.stack([image for image, _ in rendered])
    depth = rendered[0][1]
    near = float(depth[depth > 0].min()) * (0.6 + 0.2 * float(rnd(())))
    far = float(depth.max()) * (1.3 + 0.4 * float(rnd(())))
    points = depth_to_world_points(depth[None], K[:1], T_cw[:1]).reshape(-1, 3)
    return {
        "images": images,
        "K": K,
        "T_cw": T_cw,
        "depth_range": torch.tensor([near, far]),
        "depth": depth,
        "mask": depth > 0,
        "points": points[(depth > 0).flatten()],
        "index": torch.tensor(seed),
    }


def batch_of(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items (ragged ``points`` dropped)."""
    return {k: torch.stack([item[k] for item in items]) for k in items[0] if k != "points"}
