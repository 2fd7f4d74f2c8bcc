"""CPU ray-casting renderer (open3d RaycastingScene) for N pinhole cameras.

Rays are built from any ``K`` and ``T_cw`` with :func:`recon.geometry.cameras.unproject`:
each ray direction has unit camera-frame z, and open3d's ``t_hit`` is measured in units of
the direction's length, so ``t_hit`` IS the z-depth. Pixel (row v, col u) is sampled at its
centre, the point ``(u, v)`` (OpenCV: integer pixel centres).

Shading: Lambertian with one directional light + ambient + a weak Blinn-Phong highlight (none when
``Light.specular`` is 0, so every view of a point gets the same colour), smooth normals interpolated from
per-corner normals with the hit's barycentrics. ``supersample`` anti-aliases the colour (box filter).
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


def raycasting_scene(meshes: list[RenderMesh]) -> tuple[o3d.t.geometry.RaycastingScene, dict[int, int]]:
    """An open3d scene of ``meshes`` and the map from its geometry ids to mesh indices."""
    scene = o3d.t.geometry.RaycastingScene()
    gid_to_part = {}
    for i, m in enumerate(meshes):
        gid = scene.add_triangles(
            np.ascontiguousarray(m.vertices, np.float32), np.ascontiguousarray(m.faces, np.uint32)
        )
        gid_to_part[int(gid)] = i
    return scene, gid_to_part


def _shade(
    scene,
    gid_to_part: dict[int, int],
    meshes: list[RenderMesh],
    origins: np.ndarray,
    dirs: np.ndarray,
    light: Light,
    bg: np.ndarray,
    nthreads: int,
    colour: bool = True,
) -> dict[str, np.ndarray]:
    """Cast rays (N, 3) + (N, 3) and shade them over the background ``bg`` (N, 3); float64 colour in [0, 1].

    ``colour=False`` returns the geometry only (no texture lookups, no "colour" key).
    """
    rays = np.concatenate([origins, dirs], -1).reshape(-1, 6).astype(np.float32)
    hit = scene.cast_rays(rays, nthreads=nthreads)
    t = hit["t_hit"].numpy()
    mask = np.isfinite(t)
    n_pix = len(t)
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
            if not colour:
                continue
            if m.texture is None:
                albedo[j] = 0.7
            else:
                A = m.local_from_world if m.local_from_world is not None else np.eye(4)
                p_loc = pts[j] @ A[:3, :3].T + A[:3, 3]
                n_loc = n @ A[:3, :3].T
                n_loc /= np.maximum(np.linalg.norm(n_loc, axis=1, keepdims=True), 1e-12)
                albedo[j] = m.texture(p_loc, n_loc)
    geometry = {"depth": depth, "mask": mask, "part": part, "normals_w": normals_w, "points": pts}
    if not colour:
        return geometry
    L = np.asarray(light.direction, np.float64)
    diff = np.clip(normals_w @ L, 0, None)[:, None]
    view = -d / np.linalg.norm(d, axis=1, keepdims=True)
    half = view + L
    half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)
    spec = light.specular * np.clip(np.einsum("md,md->m", normals_w, half), 0, None)[:, None] ** light.shininess
    rgb = np.asarray(light.colour) * (albedo * (light.ambient + (1 - light.ambient) * diff) + spec * (diff > 0))
    return {"colour": np.where(mask[:, None], rgb, bg), **geometry}


def subpixel_offsets(supersample: int) -> np.ndarray:
    """(s*s, 2) offsets (du, dv) of a regular s x s grid of samples inside a pixel, centred on its centre."""
    g = (np.arange(supersample) + 0.5) / supersample - 0.5
    du, dv = np.meshgrid(g, g, indexing="xy")
    return np.stack([du.ravel(), dv.ravel()], 1)


def render(
    meshes: list[RenderMesh],
    K: np.ndarray,
    T_cw: np.ndarray,
    H: int,
    W: int,
    *,
    light: Light | None = None,
    background: np.ndarray | None = None,
    nthreads: int = 0,
    supersample: int = 1,
) -> dict[str, np.ndarray]:
    """Ray-cast ``meshes`` from V cameras.

    Args:
        meshes: parts in world coordinates.
        K: (V, 3, 3) intrinsics; T_cw: (V, 4, 4) world-to-camera.
        H, W: image size.
        light: shading light (default: headlight-ish from above).
        background: (V, H, W, 3) float in [0, 1] (default black).
        nthreads: open3d threads (0 = all cores).
        supersample: ``s > 1`` averages the colour of an ``s x s`` grid of rays per pixel (a box filter:
            anti-aliasing); depth, mask, normals, part and points always come from the pixel-centre ray.
    Returns:
        rgb (V, H, W, 3) uint8; depth (V, H, W) float32 z-depth, 0 on background;
        mask (V, H, W) bool; normals (V, H, W, 3) float32 unit, camera frame, facing the camera,
        0 on background; part (V, H, W) int16 index of the hit mesh, -1 on background;
        points (V, H, W, 3) float32 world hit points (0 on background).
    """
    K = np.asarray(K, np.float64)
    T_cw = np.asarray(T_cw, np.float64)
    V = len(K)
    scene, gid_to_part = raycasting_scene(meshes)
    if light is None:
        light = Light(np.array([0.3, -0.3, 0.9]) / np.linalg.norm([0.3, -0.3, 0.9]), np.ones(3), 0.3)
    bg = np.zeros((V * H * W, 3)) if background is None else np.asarray(background, np.float64).reshape(-1, 3)
    origins, dirs = camera_rays(K, T_cw, H, W)
    out = _shade(scene, gid_to_part, meshes, origins, dirs, light, bg, nthreads, colour=supersample == 1)
    if supersample == 1:
        colour = out["colour"]
    else:
        colour = np.zeros((len(bg), 3))
        for du, dv in subpixel_offsets(supersample):
            K_sub = K.copy()  # the ray through (u + du, v + dv) is the pixel-centre ray of a shifted principal point
            K_sub[:, 0, 2] -= du
            K_sub[:, 1, 2] -= dv
            o_sub, d_sub = camera_rays(K_sub, T_cw, H, W)
            colour += _shade(scene, gid_to_part, meshes, o_sub, d_sub, light, bg, nthreads)["colour"]
        colour /= supersample**2
    rgb = np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)
    # world -> camera normals: n_c = R n_w per view
    R = T_cw[:, :3, :3]
    normals_c = np.einsum("vij,vpj->vpi", R, out["normals_w"].reshape(V, H * W, 3))
    shp = (V, H, W)
    return {
        "rgb": rgb.reshape(shp + (3,)),
        "depth": out["depth"].reshape(shp),
        "mask": out["mask"].reshape(shp),
        "normals": normals_c.reshape(shp + (3,)).astype(np.float32),
        "part": out["part"].reshape(shp),
        "points": out["points"].reshape(shp + (3,)).astype(np.float32),
    }


def visible_from(
    scene, points: np.ndarray, K: np.ndarray, T_cw: np.ndarray, H: int, W: int, *, rtol: float = 1e-3, nthreads: int = 0
) -> np.ndarray:
    """Which world points a camera sees: inside its image and not hidden by any surface of ``scene``.

    A ray from the camera centre towards each point must reach (almost) the point: the first hit may lie
    at most ``rtol`` times the point's depth in front of it (float32 ray casting and surfaces seen at
    grazing angles move the hit by much less). A point is inside the image when it projects to
    ``0 <= u <= W - 1`` and ``0 <= v <= H - 1`` (the range bilinear sampling with ``align_corners=True`` covers).

    Args:
        scene: an open3d RaycastingScene (see :func:`raycasting_scene`).
        points: (N, 3) world points (float64 for best accuracy).
        K: (3, 3); T_cw: (4, 4) the camera.
        H, W: its image size.
    Returns:
        (N,) bool.
    """
    K, T = np.asarray(K, np.float64), np.asarray(T_cw, np.float64)
    p_cam = np.asarray(points, np.float64) @ T[:3, :3].T + T[:3, 3]
    z = p_cam[:, 2]
    ok = z > 0
    uvw = p_cam @ K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    ok &= (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)
    idx = np.flatnonzero(ok)
    if len(idx):
        centre = -T[:3, :3].T @ T[:3, 3]
        d = (np.asarray(points, np.float64)[idx] - centre) / z[idx, None]  # unit camera-frame z: t_hit = z-depth
        rays = np.concatenate([np.broadcast_to(centre, d.shape), d], 1).astype(np.float32)
        t_hit = scene.cast_rays(rays, nthreads=nthreads)["t_hit"].numpy()
        ok[idx] = t_hit >= z[idx] * (1 - rtol)
    return ok
