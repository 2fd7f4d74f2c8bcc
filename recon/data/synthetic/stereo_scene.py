"""Cluttered scenes for stereo: several objects, thin rods, a ground plane and a back wall, seen by a rectified pair.

The scene is laid out in the left camera's frame so that every surface either camera sees has a depth (the same
z in both frames of a rectified pair) in ``[z_near, z_far] = [f b / d_max, f b / d_min]``
(``disparity_range = (d_min, d_max)``, ``f = focal_px``, ``b`` the pair's baseline), hence a disparity
``f b / depth`` in ``[d_min, d_max]``:

- the camera looks down by ``pitch`` and stands ``h`` above the ground, with ``h`` chosen so that its lowest image
  row meets the ground at ``z_near`` or farther; the ground ends where it reaches ``z_far``;
- the back wall (a slanted plane, with probability ``wall_probability``) is placed so that its depth at every
  image corner of both views, hence everywhere in both images, lies in ``[z_near, z_far]``; without a wall the left
  camera sees a "sky" backdrop at infinity (identical in both views, no ground truth) above the ground;
- objects and rods are accepted only when all their vertices lie in the depth slab (a mesh's depth extremes
  are at its vertices); their screen size is drawn in pixels, so near objects are small in scene units.

World frame: z up, the ground is the plane z = 0, the left camera stands at ``(0, 0, h)`` and looks along +y
(pitched down); its x axis is the world x axis. The right camera is the left one shifted by ``b`` along x.

Textures (solid = textureless, checker/stripes = repetitive, noise, natural photographs) are scaled to a screen
size (``texture_size``) at each surface's depth so that they are neither invisible nor far below the pixel size;
``supersample`` box-filters what is left of aliasing. Shading is Lambertian (no highlights): a point has the same
colour in both views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from recon.geometry.cameras import intrinsics_from_focal

from . import shapes
from .config import SPLITS, StereoSceneConfig
from .renderer import RenderMesh, raycasting_scene, render, visible_from
from .scene import SceneViews, sample_light, sample_object
from .textures import sample_background, sample_texture, texture_frame

# Arrays of a split with S pairs (view 0 = left, 1 = right), written by the generator's cache:
KEYS = (
    "rgb",
    "depth",
    "mask",
    "covisible",
    "K",
    "T_cw",
    "points",
    "point_normals",
    "center",
    "radius",
    "ids",
    "family",
    "kind",
)
MAX_TRIES = 20  # placements tried per object before it is left out


@dataclass
class StereoScene(SceneViews):
    """V = 2 views (right = left shifted by the baseline along +x_cam) with the same backdrop, and the objects."""

    object_parts: list[shapes.TriMesh]  # closed object meshes (world), for GT points
    object_normals: list[np.ndarray]
    kind: str


def empty_arrays(cfg: StereoSceneConfig, S: int) -> dict[str, np.ndarray]:
    (H, W), P = cfg.image_size, cfg.num_points
    return {
        "rgb": np.zeros((S, 2, H, W, 3), np.uint8),
        "depth": np.zeros((S, 2, H, W), np.float32),
        "mask": np.zeros((S, 2, H, W), bool),
        "covisible": np.zeros((S, 2, H, W), bool),
        "K": np.zeros((S, 2, 3, 3), np.float32),
        "T_cw": np.zeros((S, 2, 4, 4), np.float32),
        "points": np.zeros((S, P, 3), np.float32),
        "point_normals": np.zeros((S, P, 3), np.float32),
        "center": np.zeros((S, 3), np.float32),
        "radius": np.zeros(S, np.float32),
        "ids": np.zeros(S, "<U32"),
        "family": np.zeros(S, "<U32"),
        "kind": np.zeros(S, "<U64"),
    }


def _corner_rays(K: np.ndarray, H: int, W: int) -> np.ndarray:
    """(4, 3) camera-frame rays with unit z through the image corners (pixel centres)."""
    uv = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], np.float64)
    return uv @ np.linalg.inv(K).T


def _quad(centre: np.ndarray, a: np.ndarray, b: np.ndarray) -> shapes.TriMesh:
    """Rectangle ``centre + s a + t b`` for s, t in [-1, 1] (two triangles)."""
    v = np.stack([centre - a - b, centre + a - b, centre + a + b, centre - a + b])
    return shapes.TriMesh(v, np.array([[0, 1, 2], [0, 2, 3]], np.int64))


def _camera(cfg: StereoSceneConfig, rng: np.random.Generator):
    """Pitch, height, baseline and the left camera's world-to-camera rotation R (rows: camera axes in world)."""
    b = float(rng.uniform(*cfg.baseline))
    pitch = math.radians(rng.uniform(*cfg.pitch_deg))
    H, W = cfg.image_size
    z_near = cfg.focal_px * b / cfg.disparity_range[1]
    # the lowest image row looks down by pitch + atan((H-1)/2 / f); its rays meet the ground at z = h / g
    g = math.cos(pitch) * (H - 1) / 2 / cfg.focal_px + math.sin(pitch)
    h = z_near * g * rng.uniform(1.0, 2.0)
    forward = np.array([0.0, math.cos(pitch), -math.sin(pitch)])
    down = np.array([0.0, -math.sin(pitch), -math.cos(pitch)])
    R = np.stack([np.array([1.0, 0.0, 0.0]), down, forward])
    return b, pitch, h, R


def _place(parts, R_obj: np.ndarray, scale: float, centre: np.ndarray) -> list[shapes.TriMesh]:
    return [shapes.TriMesh(p.vertices @ (scale * R_obj).T + centre, p.faces) for p in parts]


def _depths(parts: list[shapes.TriMesh], R: np.ndarray, C: np.ndarray) -> np.ndarray:
    return np.concatenate([(p.vertices - C) @ R[2] for p in parts])


def sample_stereo_scene(cfg: StereoSceneConfig, split: str, index: int) -> StereoScene:
    """The (deterministic) stereo scene ``index`` of ``split``, from ``default_rng([seed, split, index])``."""
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    H, W = cfg.image_size
    f = cfg.focal_px
    K = intrinsics_from_focal(f, H, W, dtype=torch.float64).numpy()
    K_inv = np.linalg.inv(K)
    d_lo, d_hi = cfg.disparity_range
    b, pitch, h, R = _camera(cfg, rng)
    z_near, z_far = f * b / d_hi, f * b / d_lo
    C = np.array([0.0, 0.0, h])  # left camera centre (world)
    to_world = lambda p_cam: p_cam @ R + C  # noqa: E731 - camera frame -> world (R orthonormal)
    tex_unit = lambda z: z * rng.uniform(*cfg.texture_size) * H / f  # noqa: E731 - texture unit at depth z
    meshes: list[RenderMesh] = []

    def add_flat(mesh: shapes.TriMesh, origin: np.ndarray, z_ref: float) -> None:
        tex = sample_texture(cfg.textures, rng)
        A = texture_frame(shapes.random_rotation(rng), origin, tex_unit(z_ref))
        meshes.append(RenderMesh(mesh.vertices, mesh.faces, shapes.flat_normals(mesh), tex, A))

    # ground: z = 0, from below the camera to where its depth (y cos(pitch) + h sin(pitch)) reaches z_far
    y_far = (z_far - h * math.sin(pitch)) / math.cos(pitch)
    half_x = 1.5 * z_far * (W - 1) / 2 / f + b
    ground = _quad(np.array([b / 2, y_far / 2, 0.0]), np.array([half_x, 0, 0]), np.array([0, y_far / 2, 0]))
    z_bottom = h / (math.cos(pitch) * (H - 1) / 2 / f + math.sin(pitch))
    add_flat(ground, np.zeros(3), math.sqrt(z_bottom * z_far))

    has_wall = rng.random() < cfg.wall_probability
    m, z0 = np.array([0.0, 0.0, 1.0]), math.inf  # no wall: "at infinity"
    if has_wall:  # plane m . x = z0 (camera frame) with m near the optical axis; depth along ray r: z0 / (m . r)
        corners = _corner_rays(K, H, W)
        yaw, tilt = math.radians(rng.uniform(-35, 35)), math.radians(rng.uniform(-15, 15))
        target = z_near + (z_far - z_near) * rng.uniform(0.6, 1.0)  # depth of the farthest corner
        for _ in range(8):  # halve the slant until the nearest corner leaves room for objects in front
            m = shapes.rotation_matrix([0, 1, 0], yaw) @ shapes.rotation_matrix([1, 0, 0], tilt) @ [0.0, 0.0, 1.0]
            q = corners @ m
            # the right camera sees the wall at depth (z0 - b m_x) / (m . r) along the same corner rays r:
            # both views' farthest corner at the target depth, so the right view's disparities stay in range too
            shift = b * m[0]
            z0 = target * q.min() + min(0.0, shift)
            if q.min() > 0 and (z0 - max(0.0, shift)) / q.max() >= z_near + 0.4 * (target - z_near):
                break
            yaw, tilt = yaw / 2, tilt / 2
        else:  # facing the camera: every corner at the target depth
            m, z0 = np.array([0.0, 0.0, 1.0]), target
        a1 = np.cross(m, [0.0, 1.0, 0.0])
        a1 /= np.linalg.norm(a1)
        a2 = np.cross(m, a1)
        size = 2 * z_far * max(H, W) / f + b
        wall = _quad(to_world(z0 * m), size * a1 @ R, size * a2 @ R)
        add_flat(wall, to_world(z0 * m), z0)

    # objects: screen radius s px at disparity d -> radius s z / f; centre depths keep +- radius in the slab
    families = cfg.families_for(split)
    object_parts, object_normals, n_objects = [], [], 0
    for _ in range(int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))):
        family = families[rng.integers(len(families))]
        _, parts, normals = sample_object(cfg, family, rng)
        c_loc, r_loc = shapes.bounding_sphere(np.concatenate([p.vertices for p in parts]))
        parts = [shapes.TriMesh(p.vertices - c_loc, p.faces) for p in parts]
        on_ground = rng.random() < 0.5
        for _ in range(MAX_TRIES):
            s = rng.uniform(*cfg.object_size) * H / f
            d = rng.uniform(d_lo * (1 + s), d_hi * (1 - s))
            z = f * b / d
            uv = np.array([rng.uniform(-0.1, 1.1) * (W - 1), rng.uniform(-0.1, 1.1) * (H - 1), 1.0])
            ray = K_inv @ uv
            if m @ ray > 0 and z > z0 / (m @ ray):  # centre behind the wall
                continue
            centre = to_world(z * ray)
            if on_ground:  # upright with a little tilt, resting on the ground
                R_obj = shapes.rotation_matrix([0, 0, 1], rng.uniform(0, 2 * np.pi)) @ shapes.rotation_matrix(
                    [1, 0, 0], math.radians(rng.uniform(-15, 15))
                )
            else:
                R_obj = shapes.random_rotation(rng)
            radius = s * z
            placed = _place(parts, R_obj, radius / r_loc, centre)
            if on_ground:
                lift = -min(p.vertices[:, 2].min() for p in placed)
                placed = [shapes.TriMesh(p.vertices + [0, 0, lift], p.faces) for p in placed]
                centre = centre + [0, 0, lift]
            depth = _depths(placed, R, C)
            if depth.min() >= z_near and depth.max() <= z_far:
                break
        else:
            continue
        n_objects += 1
        shared = rng.random() < 0.5
        tex = [sample_texture(cfg.textures, rng)]
        for _ in parts[1:]:
            tex.append(tex[0] if shared else sample_texture(cfg.textures, rng))
        A = texture_frame(R_obj, centre, tex_unit(z))
        world_normals = [(n.astype(np.float64) @ R_obj.T).astype(np.float32) for n in normals]
        meshes += [RenderMesh(p.vertices, p.faces, n, t, A) for p, n, t in zip(placed, world_normals, tex)]
        object_parts += placed
        object_normals += world_normals

    # thin rods: vertical poles standing on the ground or wires in any direction
    n_thin = 0
    for _ in range(int(rng.integers(cfg.num_thin[0], cfg.num_thin[1] + 1))):
        pole = rng.random() < 0.5
        for _ in range(MAX_TRIES):
            length_px = rng.uniform(0.3, 0.9) * H
            s = length_px / 2 / f
            d = rng.uniform(d_lo * (1 + s), d_hi * (1 - s))
            z = f * b / d
            uv = np.array([rng.uniform(0, 1) * (W - 1), rng.uniform(0, 1) * (H - 1), 1.0])
            ray = K_inv @ uv
            if m @ ray > 0 and z > z0 / (m @ ray):
                continue
            centre = to_world(z * ray)
            axis = np.array([0.0, 0.0, 1.0]) if pole else rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            rod = shapes.cylinder(rng.uniform(*cfg.thin_width_px) / 2 * z / f, length_px * z / f, segments=8)
            # cylinder axis z -> axis (a rotation about z x axis)
            cross = np.cross([0.0, 0.0, 1.0], axis)
            angle = math.atan2(np.linalg.norm(cross), axis[2])
            R_rod = shapes.rotation_matrix(cross, angle) if np.linalg.norm(cross) > 1e-9 else np.eye(3)
            placed = _place([rod], R_rod, 1.0, centre)
            if pole:
                placed = [shapes.TriMesh(placed[0].vertices - [0, 0, placed[0].vertices[:, 2].min()], rod.faces)]
            depth = _depths(placed, R, C)
            if depth.min() >= z_near and depth.max() <= z_far:
                break
        else:
            continue
        n_thin += 1
        mesh = placed[0]
        tex = sample_texture(cfg.textures, rng)
        meshes.append(
            RenderMesh(
                mesh.vertices,
                mesh.faces,
                shapes.corner_normals(mesh.vertices, mesh.faces),
                tex,
                texture_frame(R_rod, centre, tex_unit(z)),
            )
        )

    # cameras: rectified pair, right = left shifted by b along +x_cam
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ C
    T_cw = np.stack([T, T]).astype(np.float32)
    T_cw[1, 0, 3] = np.float32(T[0, 3] - b)
    Ks = np.broadcast_to(K, (2, 3, 3)).astype(np.float32)

    light = sample_light(cfg, rng, -math.pi / 2, specular=False)  # the camera is towards -y
    sky = sample_background(cfg.backgrounds, rng, 1, H, W)
    kind = f"{n_objects}obj-{n_thin}thin-{'wall' if has_wall else 'sky'}"
    return StereoScene(meshes, Ks, T_cw, light, np.repeat(sky, 2, axis=0), object_parts, object_normals, kind)


def generate_stereo_scene(cfg: StereoSceneConfig, split: str, index: int, nthreads: int = 0) -> dict[str, np.ndarray]:
    """Render stereo scene ``index`` of ``split``: arrays of :data:`KEYS` without the leading S axis.

    ``covisible[v]`` marks the pixels of view v whose surface point the OTHER camera sees (inside its image,
    not hidden); ``mask`` the pixels that see a surface (``depth > 0``).
    """
    sc = sample_stereo_scene(cfg, split, index)
    H, W = cfg.image_size
    out = render(
        sc.meshes,
        sc.K,
        sc.T_cw,
        H,
        W,
        light=sc.light,
        background=sc.background,
        nthreads=nthreads,
        supersample=cfg.supersample,
    )
    scene, _ = raycasting_scene(sc.meshes)
    covisible = np.zeros((2, H, W), bool)
    K64, T64 = sc.K.astype(np.float64), sc.T_cw.astype(np.float64)
    for v in (0, 1):
        # world points of view v's pixels in float64 (the renderer returns them in float32)
        z = out["depth"][v].astype(np.float64)
        cam = np.stack([*np.meshgrid(np.arange(W), np.arange(H), indexing="xy"), np.ones((H, W))], -1)
        cam = cam @ np.linalg.inv(K64[v]).T * z[..., None]
        world = (cam - T64[v, :3, 3]) @ T64[v, :3, :3]
        m = out["mask"][v]
        covisible[v][m] = visible_from(scene, world[m], K64[1 - v], T64[1 - v], H, W, nthreads=nthreads)
    points, point_normals, centre, radius = object_points(sc, cfg, split, index)
    return {
        "rgb": out["rgb"],
        "depth": out["depth"],
        "mask": out["mask"],
        "covisible": covisible,
        "K": sc.K,
        "T_cw": sc.T_cw,
        "points": points,
        "point_normals": point_normals,
        "center": centre.astype(np.float32),
        "radius": np.float32(radius),
        "ids": f"{split}-{index:06d}",
        "family": "clutter",
        "kind": sc.kind,
    }


def object_points(sc, cfg, split: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Ground-truth points of scene ``index`` of ``split`` (a stereo or multi-view scene ``sc``): ``cfg.num_points``
    points and normals drawn on its objects' surfaces, and their bounding sphere (centre, radius); zeros when no
    object could be placed."""
    P = cfg.num_points
    if not sc.object_parts:
        return np.zeros((P, 3), np.float32), np.zeros((P, 3), np.float32), np.zeros(3), 0.0
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index, 1])
    points, point_normals = shapes.sample_surface(sc.object_parts, sc.object_normals, P, rng)
    centre, radius = shapes.bounding_sphere(points.astype(np.float64))
    return points, point_normals, centre, radius
