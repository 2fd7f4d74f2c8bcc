"""One random scene: object, texture(s), cameras, light, background, ground-truth points.

World frame: z UP (gravity along -z), scene units. The object's bounding sphere (radius
``radius`` drawn from ``object_scale``) is centred at ``cfg.center``; the object is turned by a
random yaw about z and a tilt of at most ``max_tilt_deg`` away from upright. Cameras
(OpenCV, ``T_cw`` world-to-camera) look at the centre with world +z appearing up, from
``camera_distance`` at ``elevation_deg`` above the horizontal plane through the centre.
Everything about scene ``index`` of ``split`` comes from
``np.random.default_rng([seed, split_index, index])``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from recon.geometry.cameras import look_at

from . import shapes
from .config import SPLITS, SyntheticConfig, mesh_files
from .renderer import Light, RenderMesh
from .textures import sample_background, sample_texture


@dataclass
class SceneViews:
    """What the renderer needs of a scene: its meshes, its V cameras, the light and the per-view backgrounds."""

    meshes: list[RenderMesh]  # world frame
    K: np.ndarray  # (V, 3, 3) float32
    T_cw: np.ndarray  # (V, 4, 4) float32
    light: Light
    background: np.ndarray  # (V, H, W, 3) float32


@dataclass
class Scene(SceneViews):
    points: np.ndarray  # (P, 3) float32 world
    point_normals: np.ndarray  # (P, 3) float32
    center: np.ndarray  # (3,) float32
    radius: float
    family: str
    kind: str


def scene_rng(cfg: SyntheticConfig, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, SPLITS.index(split), index])


@functools.lru_cache(maxsize=8)
def _mesh_paths(mesh_dir: str) -> tuple[str, ...]:
    return tuple(str(p.resolve()) for p in mesh_files(mesh_dir))


def sample_object(cfg: SyntheticConfig, family: str, rng: np.random.Generator):
    """Local parts and their corner normals (unnormalised placement), and the subtype name."""
    if family == "primitive":
        kind, mesh = shapes.random_primitive(rng)
        parts = [mesh]
    elif family == "composite":
        kind, parts = shapes.random_composite(rng)
    elif family == "deformed":
        kind, mesh = shapes.random_deformed(rng)
        parts = [mesh]
    elif family == "mesh":
        paths = _mesh_paths(cfg.mesh_dir)
        path = paths[rng.integers(len(paths))]
        mesh, normals = shapes.mesh_file_with_normals(path)
        return path.rsplit("/", 1)[-1], [mesh], [normals]
    else:
        raise ValueError(f"unknown shape family {family!r}")
    return kind, parts, [shapes.corner_normals(p.vertices, p.faces) for p in parts]


def _cameras(cfg: SyntheticConfig, rng: np.random.Generator, center: np.ndarray):
    V = cfg.num_views
    H, W = cfg.image_size
    az0 = rng.uniform(0, 2 * np.pi)
    if cfg.camera_layout == "random":
        az = rng.uniform(0, 2 * np.pi, V)
        el = np.deg2rad(rng.uniform(*cfg.elevation_deg, V))
        dist = rng.uniform(*cfg.camera_distance, V)
    else:  # ring (and the left camera of a stereo pair)
        az = az0 + 2 * np.pi * np.arange(V) / V
        el = np.full(V, np.deg2rad(rng.uniform(*cfg.elevation_deg)))
        dist = np.full(V, rng.uniform(*cfg.camera_distance))
    eye = center + dist[:, None] * np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    T = look_at(
        torch.as_tensor(eye),
        torch.as_tensor(center).expand(V, 3),
        torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(V, 3),
    ).numpy()
    if cfg.camera_layout == "stereo":  # rectified pair: right camera = left shifted along +x_cam
        T[1] = T[0]
        T[1, 0, 3] -= rng.uniform(*cfg.stereo_baseline)
    # fov_deg spans the SHORTER image side, so the bounding sphere fits for any aspect ratio
    K = cfg.intrinsics(dtype=torch.float64).numpy()
    return np.broadcast_to(K, (V, 3, 3)).astype(np.float32), T.astype(np.float32), float(az[0])


def sample_scene(cfg: SyntheticConfig, split: str, index: int) -> Scene:
    """The (deterministic) scene ``index`` of ``split``."""
    rng = scene_rng(cfg, split, index)
    families = cfg.families_for(split)
    family = families[rng.integers(len(families))]
    kind, parts, normals = sample_object(cfg, family, rng)

    # normalise to the bounding sphere, then yaw + tilt, then place at the centre
    c_loc, r_loc = shapes.bounding_sphere(np.concatenate([p.vertices for p in parts]))
    radius = float(rng.uniform(*cfg.object_scale))
    yaw = rng.uniform(0, 2 * np.pi)
    tilt_axis = rng.uniform(0, 2 * np.pi)
    tilt = math.radians(rng.uniform(0, cfg.max_tilt_deg))
    R = shapes.rotation_matrix([0, 0, 1], yaw) @ shapes.rotation_matrix(
        [math.cos(tilt_axis), math.sin(tilt_axis), 0.0], tilt
    )
    center = np.asarray(cfg.center, np.float64)
    s = radius / r_loc
    world_parts = [shapes.TriMesh((p.vertices - c_loc) @ (s * R).T + center, p.faces) for p in parts]
    world_normals = [(n.astype(np.float64) @ R.T).astype(np.float32) for n in normals]
    # texture coordinates: the unit bounding sphere of the object, before yaw/tilt
    A = np.eye(4)
    A[:3, :3] = R.T / (s * r_loc)
    A[:3, 3] = -A[:3, :3] @ center
    shared = rng.random() < 0.5
    tex = [sample_texture(cfg.textures, rng)]
    for _ in parts[1:]:
        tex.append(tex[0] if shared else sample_texture(cfg.textures, rng))
    meshes = [RenderMesh(p.vertices, p.faces, n, t, A) for p, n, t in zip(world_parts, world_normals, tex)]

    points, point_normals = shapes.sample_surface(world_parts, world_normals, cfg.num_points, rng)

    K, T_cw, az_cam = _cameras(cfg, rng, center)
    H, W = cfg.image_size
    light = sample_light(cfg, rng, az_cam)
    background = sample_background(cfg.backgrounds, rng, cfg.num_views, H, W)
    return Scene(
        meshes, K, T_cw, light, background, points, point_normals, center.astype(np.float32), radius, family, kind
    )


def sample_light(cfg, rng: np.random.Generator, azimuth: float, specular: bool = True) -> Light:
    """A light from ``azimuth`` (radians, world frame) plus ``cfg.light_azimuth_deg``, at an elevation drawn from
    ``cfg.light_elevation_deg``, slightly tinted; its specular strength is drawn from ``cfg.specular`` or is 0."""
    az = azimuth + math.radians(rng.uniform(*cfg.light_azimuth_deg))
    el = math.radians(rng.uniform(*cfg.light_elevation_deg))
    colour = 1.0 - rng.uniform(0, 0.15, 3)
    return Light(
        np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]),
        colour / colour.max(),
        float(rng.uniform(*cfg.ambient)),
        float(rng.uniform(*cfg.specular)) if specular else 0.0,
    )
