"""CPU ray-casting renderer (open3d RaycastingScene) for N pinhole cameras.

Rays are built from any ``K`` and ``T_cw`` with :func:`recon.geometry.cameras.unproject`:
each ray direction has unit camera-frame z, and open3d's ``t_hit`` is measured in units of
the direction's length, so ``t_hit`` IS the z-depth. Pixel (row v, col u) is sampled at its
centre, the point ``(u, v)`` (OpenCV: integer pixel centres).

Shading: Lambertian with one directional light + ambient + a weak Blinn-Phong highlight,
smooth normals interpolated from per-corner normals with the hit's barycentrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import torch

from recon.geometry.cameras import camera_centers, unproject

from .textures import Texture


@dataclass
class RenderMesh:
    """One closed part in WORLD coordinates.

    vertices (N, 3); faces (F, 3); corner_normals (F, 3, 3) unit, world frame;
    texture evaluated at ``local_from_world`` (4, 4 similarity) applied to hit points.
    """

    vertices: np.ndarray
    faces: np.ndarray
    corner_normals: np.ndarray
    texture: Texture | None = None
    local_from_world: np.ndarray | None = None


@dataclass
class Light:
    direction: np.ndarray  # (3,) unit, world frame, pointing TOWARDS the light
    colour: np.ndarray  # (3,)
    ambient: float = 0.3
    specular: float = 0.0
    shininess: float = 30.0


def camera_rays(K: np.ndarray, T_cw: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """World-frame rays through pixel centres.

    Args:
        K: (V, 3, 3); T_cw: (V, 4, 4).
    Returns:
        origins (V, H*W, 3) and directions (V, H*W, 3) float64, directions with unit
        camera-frame z (so the ray parameter equals z-depth).
    """
    K_t = torch.as_tensor(np.asarray(K, np.float64))
    T_t = torch.as_tensor(np.asarray(T_cw, np.float64))
    d_cam = unproject(torch.ones(len(K_t), 1, H, W, dtype=torch.float64), K_t)  # z = 1
    d_world = d_cam @ T_t[:, :3, :3]  # R^T d for row vectors
    origins = camera_centers(T_t)[:, None].expand_as(d_world)
    return origins.numpy(), d_world.numpy()


def render(meshes: list[RenderMesh], K: np.ndarray, T_cw: np.ndarray, H: int, W: int, *,
           light: Light | None = None, background: np.ndarray | None = None,
           nthreads: int = 0) -> dict[str, np.ndarray]:
    """Ray-cast ``meshes`` from V cameras.

    Args:
        meshes: parts in world coordinates.
        K: (V, 3, 3) intrinsics; T_cw: (V, 4, 4) world-to-camera.
        H, W: image size.
        light: shading light (default: headlight-ish from above).
        background: (V, H, W, 3) float in [0, 1] (default black).
        nthreads: open3d threads (0 = all cores).
    Returns:
        rgb (V, H, W, 3) uint8; depth (V, H, W) float32 z-depth, 0 on background;
        mask (V, H, W) bool; normals (V, H, W, 3) float32 unit, camera frame, facing the camera,
        0 on background; part (V, H, W) int16 index of the hit mesh, -1 on background;
        points (V, H, W, 3) float32 world hit points (0 on background).
    """
    K = np.asarray(K, np.float64)
    T_cw = np.asarray(T_cw, np.float64)
    V = len(K)
    scene = o3d.t.geometry.RaycastingScene()
    gid_to_part = {}
    for i, m in enumerate(meshes):
        gid = scene.add_triangles(np.ascontiguousarray(m.vertices, np.float32),
                                  np.ascontiguousarray(m.faces, np.uint32))
        gid_to_part[int(gid)] = i
    origins, dirs = camera_rays(K, T_cw, H, W)
    rays = np.concatenate([origins, dirs], -1).reshape(-1, 6).astype(np.float32)
    hit = scene.cast_rays(rays, nthreads=nthreads)
    t = hit["t_hit"].numpy()
    mask = np.isfinite(t)
    n_pix = V * H * W
    depth = np.where(mask, t, 0).astype(np.float32)
    part = np.full(n_pix, -1, np.int16)
    normals_w = np.zeros((n_pix, 3), np.float64)
    albedo = np.zeros((n_pix, 3), np.float64)
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    pts = np.zeros((n_pix, 3), np.float64)
    idx = np.flatnonzero(mask)
    if len(idx):
        gids = hit["geometry_ids"].numpy()[idx]
        prim = hit["primitive_ids"].numpy()[idx].astype(np.int64)
        uv = hit["primitive_uvs"].numpy()[idx].astype(np.float64)
        bary = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], 1)
        pts[idx] = o[idx] + t[idx, None].astype(np.float64) * d[idx]
        for g, pi in gid_to_part.items():
            sel = gids == g
            if not sel.any():
                continue
            m = meshes[pi]
            j = idx[sel]
            part[j] = pi
            n = np.einsum("mk,mkd->md", bary[sel], m.corner_normals[prim[sel]].astype(np.float64))
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            n[np.einsum("md,md->m", n, d[j]) > 0] *= -1  # face the camera (open meshes)
            normals_w[j] = n
            if m.texture is None:
                albedo[j] = 0.7
            else:
                A = m.local_from_world if m.local_from_world is not None else np.eye(4)
                p_loc = pts[j] @ A[:3, :3].T + A[:3, 3]
                n_loc = n @ A[:3, :3].T
                n_loc /= np.maximum(np.linalg.norm(n_loc, axis=1, keepdims=True), 1e-12)
                albedo[j] = m.texture(p_loc, n_loc)
    if light is None:
        light = Light(np.array([0.3, -0.3, 0.9]) / np.linalg.norm([0.3, -0.3, 0.9]), np.ones(3), 0.3)
    L = np.asarray(light.direction, np.float64)
    diff = np.clip(normals_w @ L, 0, None)[:, None]
    view = -d / np.linalg.norm(d, axis=1, keepdims=True)
    half = view + L
    half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)
    spec = light.specular * np.clip(np.einsum("md,md->m", normals_w, half), 0, None)[:, None] ** light.shininess
    colour = np.asarray(light.colour) * (albedo * (light.ambient + (1 - light.ambient) * diff) + spec * (diff > 0))
    bg = np.zeros((n_pix, 3)) if background is None else np.asarray(background, np.float64).reshape(-1, 3)
    rgb = np.where(mask[:, None], colour, bg)
    rgb = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    # world -> camera normals: n_c = R n_w per view
    R = T_cw[:, :3, :3]
    normals_c = np.einsum("vij,vpj->vpi", R, normals_w.reshape(V, H * W, 3))
    shp = (V, H, W)
    return {
        "rgb": rgb.reshape(shp + (3,)),
        "depth": depth.reshape(shp),
        "mask": mask.reshape(shp),
        "normals": normals_c.reshape(shp + (3,)).astype(np.float32),
        "part": part.reshape(shp),
        "points": pts.reshape(shp + (3,)).astype(np.float32),
    }
