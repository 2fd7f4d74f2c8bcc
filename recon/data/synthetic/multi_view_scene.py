"""Scenes for multi-view stereo: objects on a ground seen from a ring or the upper hemisphere, or a cluttered scene
traversed by a forward-moving camera (layouts of :class:`~.config.MultiViewSceneConfig`).

World frame: z up, the ground is the plane z = 0. Ring / hemisphere scenes: objects stand upright (random yaw, a tilt
of at most ``MAX_TILT_DEG``) on a textured ground disc, their centres inside ``scene_radius`` of the origin, without
overlapping; every camera looks at the point above the origin halfway up the tallest object. Trajectory scenes are
the cluttered scenes of :mod:`.stereo_scene` (its left camera is the first view; every view has that rotation, so the
sky backdrop "at infinity" is the same image in every view).

Arrays of a split with S scenes, V views, P points, written by the generator's cache (:data:`KEYS`):

=============== ======================= ==================================================
rgb             (S, V, H, W, 3) uint8   Lambertian shading (a point has one colour in every view)
depth           (S, V, H, W) float32    z-depth, 0 where no surface (background, sky)
mask            (S, V, H, W) bool       ``depth > 0``
object_mask     (S, V, H, W) bool       the pixel sees an object (a surface sampled into ``points``), not the ground,
                                        a wall or a rod
K               (S, V, 3, 3) float32    intrinsics (pixel centres at integer coordinates)
T_cw            (S, V, 4, 4) float32    world -> camera (OpenCV)
points          (S, P, 3) float32       object surface samples, uniform by area, WORLD frame (no ground, wall, rods)
point_normals   (S, P, 3) float32       their unit outward normals
point_visible   (S, V, P) bool          view v sees point p: inside its image, not hidden (``visible_from``)
center, radius  (S, 3), (S,) float32    bounding sphere of the points
ids             (S,) str                "train-000042"
family          (S,) str                the layout
kind            (S,) str                the content, e.g. "3obj" or "5obj-1thin-wall"
=============== ======================= ==================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from recon.geometry.cameras import look_at

from . import shapes
from .config import SPLITS, MultiViewSceneConfig
from .renderer import RenderMesh, raycasting_scene, render, visible_from
from .scene import SceneViews, sample_light, sample_object
from .stereo_scene import object_points, sample_stereo_scene
from .textures import sample_background, sample_texture, texture_frame

KEYS = (
    "rgb",
    "depth",
    "mask",
    "object_mask",
    "K",
    "T_cw",
    "points",
    "point_normals",
    "point_visible",
    "center",
    "radius",
    "ids",
    "family",
    "kind",
)
MAX_TRIES = 20  # placements tried per object before it is left out
MAX_TILT_DEG = 15.0
GROUND_RADIUS = 2.5  # x scene_radius
GROUND_SEGMENTS = 48


@dataclass
class MultiViewScene(SceneViews):
    object_parts: list[shapes.TriMesh]  # closed object meshes (world), for GT points
    object_normals: list[np.ndarray]
    kind: str


def empty_arrays(cfg: MultiViewSceneConfig, S: int) -> dict[str, np.ndarray]:
    V, (H, W), P = cfg.num_views, cfg.image_size, cfg.num_points
    return {
        "rgb": np.zeros((S, V, H, W, 3), np.uint8),
        "depth": np.zeros((S, V, H, W), np.float32),
        "mask": np.zeros((S, V, H, W), bool),
        "object_mask": np.zeros((S, V, H, W), bool),
        "K": np.zeros((S, V, 3, 3), np.float32),
        "T_cw": np.zeros((S, V, 4, 4), np.float32),
        "points": np.zeros((S, P, 3), np.float32),
        "point_normals": np.zeros((S, P, 3), np.float32),
        "point_visible": np.zeros((S, V, P), bool),
        "center": np.zeros((S, 3), np.float32),
        "radius": np.zeros(S, np.float32),
        "ids": np.zeros(S, "<U32"),
        "family": np.zeros(S, "<U32"),
        "kind": np.zeros(S, "<U64"),
    }


def _ground(cfg: MultiViewSceneConfig, rng: np.random.Generator) -> RenderMesh:
    """A textured disc of radius ``GROUND_RADIUS * scene_radius`` in the plane z = 0, facing up."""
    n = GROUND_SEGMENTS
    a = 2 * np.pi * np.arange(n) / n
    r = GROUND_RADIUS * cfg.scene_radius
    vertices = np.concatenate([np.zeros((1, 3)), np.stack([r * np.cos(a), r * np.sin(a), np.zeros(n)], 1)])
    faces = np.stack([np.zeros(n, np.int64), 1 + np.arange(n), 1 + (np.arange(n) + 1) % n], 1)
    disc = shapes.TriMesh(vertices, faces)
    A = texture_frame(shapes.random_rotation(rng), np.zeros(3), cfg.scene_radius * rng.uniform(0.3, 0.8))
    return RenderMesh(disc.vertices, disc.faces, shapes.flat_normals(disc), sample_texture(cfg.textures, rng), A)


def _objects(cfg: MultiViewSceneConfig, rng: np.random.Generator, families: tuple[str, ...]):
    """Objects of ``families`` standing on the ground without overlapping: render meshes, world parts and normals,
    their count."""
    meshes, parts_out, normals_out, discs = [], [], [], []  # discs: (x, y, r) footprints placed so far
    for _ in range(int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))):
        family = families[rng.integers(len(families))]
        _, parts, normals = sample_object(cfg, family, rng)
        c_loc, r_loc = shapes.bounding_sphere(np.concatenate([p.vertices for p in parts]))
        r = float(rng.uniform(*cfg.object_scale))
        R_obj = shapes.rotation_matrix([0, 0, 1], rng.uniform(0, 2 * np.pi)) @ shapes.rotation_matrix(
            [1, 0, 0], math.radians(rng.uniform(-MAX_TILT_DEG, MAX_TILT_DEG))
        )
        for _ in range(MAX_TRIES):
            rho, phi = (cfg.scene_radius - r) * math.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
            x, y = rho * math.cos(phi), rho * math.sin(phi)
            if all(math.hypot(x - x2, y - y2) >= r + r2 for x2, y2, r2 in discs):
                break
        else:
            continue
        discs.append((x, y, r))
        placed = [shapes.TriMesh((p.vertices - c_loc) @ (r / r_loc * R_obj).T, p.faces) for p in parts]
        lift = -min(p.vertices[:, 2].min() for p in placed)
        centre = np.array([x, y, lift])
        placed = [shapes.TriMesh(p.vertices + centre, p.faces) for p in placed]
        world_normals = [(nrm.astype(np.float64) @ R_obj.T).astype(np.float32) for nrm in normals]
        shared = rng.random() < 0.5
        tex = [sample_texture(cfg.textures, rng)]
        for _ in parts[1:]:
            tex.append(tex[0] if shared else sample_texture(cfg.textures, rng))
        A = texture_frame(R_obj, centre, r)
        meshes += [RenderMesh(p.vertices, p.faces, nrm, t, A) for p, nrm, t in zip(placed, world_normals, tex)]
        parts_out += placed
        normals_out += world_normals
    return meshes, parts_out, normals_out, len(discs)


def _orbit_cameras(cfg: MultiViewSceneConfig, rng: np.random.Generator, target: np.ndarray) -> np.ndarray:
    """(V, 4, 4) float64 world-to-camera poses looking at ``target`` from a ring or the upper hemisphere."""
    V = cfg.num_views
    lo, hi = np.deg2rad(cfg.elevation_deg)
    if cfg.layout == "ring":
        az = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(V) / V
        el = np.full(V, rng.uniform(lo, hi))
        dist = np.full(V, rng.uniform(*cfg.camera_distance))
    else:  # uniform on the sphere zone: sin(elevation) uniform
        az = rng.uniform(0, 2 * np.pi, V)
        el = np.arcsin(rng.uniform(math.sin(lo), math.sin(hi), V))
        dist = rng.uniform(*cfg.camera_distance, V)
    eye = target + dist[:, None] * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    return look_at(
        torch.as_tensor(eye),
        torch.as_tensor(target).expand(V, 3),
        torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(V, 3),
    ).numpy()


def _orbit_scene(cfg: MultiViewSceneConfig, rng: np.random.Generator, families: tuple[str, ...]) -> MultiViewScene:
    meshes, parts, normals, n_objects = _objects(cfg, rng, families)
    target = np.array([0.0, 0.0, 0.5 * max(p.vertices[:, 2].max() for p in parts)])
    meshes.append(_ground(cfg, rng))
    T_cw = _orbit_cameras(cfg, rng, target)
    V, (H, W) = cfg.num_views, cfg.image_size
    C0 = -T_cw[0, :3, :3].T @ T_cw[0, :3, 3]
    light = sample_light(cfg, rng, math.atan2(C0[1], C0[0]), specular=False)
    background = sample_background(cfg.backgrounds, rng, V, H, W)
    K = np.broadcast_to(cfg.intrinsics(dtype=torch.float64).numpy(), (V, 3, 3)).astype(np.float32)
    return MultiViewScene(meshes, K, T_cw.astype(np.float32), light, background, parts, normals, f"{n_objects}obj")


def _trajectory_scene(cfg: MultiViewSceneConfig, split: str, index: int) -> MultiViewScene:
    sc = sample_stereo_scene(cfg.clutter_config(), split, index)
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index, 2])
    V = cfg.num_views
    T0 = sc.T_cw[0].astype(np.float64)
    R = T0[:3, :3]
    step = cfg.travel * cfg.depth_slab[0] / (V - 1)
    # forward = world +y (the stereo scene's camera looks along +y, pitched); sway along the image axes R[0], R[1]
    sway = cfg.sway * cfg.depth_slab[0] * rng.uniform(-1, 1, (V, 2)) @ R[:2]
    sway[0] = 0
    C = -R.T @ T0[:3, 3] + step * np.arange(V)[:, None] * np.array([0.0, 1.0, 0.0]) + sway
    T_cw = np.broadcast_to(T0, (V, 4, 4)).copy()
    T_cw[:, :3, 3] = -C @ R.T
    K = np.broadcast_to(sc.K[0], (V, 3, 3)).astype(np.float32)
    background = np.broadcast_to(sc.background[0], (V,) + sc.background.shape[1:])
    return MultiViewScene(
        sc.meshes, K, T_cw.astype(np.float32), sc.light, background, sc.object_parts, sc.object_normals, sc.kind
    )


def sample_multi_view_scene(cfg: MultiViewSceneConfig, split: str, index: int) -> MultiViewScene:
    """The (deterministic) scene ``index`` of ``split``, from ``default_rng([seed, split, index])``."""
    if cfg.layout == "trajectory":
        return _trajectory_scene(cfg, split, index)
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    return _orbit_scene(cfg, rng, cfg.families_for(split))


def generate_multi_view_scene(
    cfg: MultiViewSceneConfig, split: str, index: int, nthreads: int = 0
) -> dict[str, np.ndarray]:
    """Render scene ``index`` of ``split``: arrays of :data:`KEYS` without the leading S axis."""
    sc = sample_multi_view_scene(cfg, split, index)
    V, (H, W), P = cfg.num_views, cfg.image_size, cfg.num_points
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
    # no object placed (every placement failed: trajectory scenes only, rare): no ground-truth points
    points, point_normals, centre, radius = object_points(sc, cfg, split, index)
    object_ids = {id(part.vertices) for part in sc.object_parts}  # the render meshes share the parts' vertices
    is_object = np.array([id(mesh.vertices) in object_ids for mesh in sc.meshes] + [False])  # part -1: background
    visible = np.zeros((V, P), bool)
    if sc.object_parts:
        scene, _ = raycasting_scene(sc.meshes)
        for v in range(V):
            visible[v] = visible_from(scene, points.astype(np.float64), sc.K[v], sc.T_cw[v], H, W, nthreads=nthreads)
    return {
        "rgb": out["rgb"],
        "depth": out["depth"],
        "mask": out["mask"],
        "object_mask": is_object[out["part"]],
        "K": sc.K,
        "T_cw": sc.T_cw,
        "points": points,
        "point_normals": point_normals,
        "point_visible": visible,
        "center": centre.astype(np.float32),
        "radius": np.float32(radius),
        "ids": f"{split}-{index:06d}",
        "family": cfg.layout,
        "kind": sc.kind,
    }
