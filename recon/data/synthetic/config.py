"""Configuration of the synthetic scene generator and its cache key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

# Bump whenever the generated arrays change for an unchanged config (invalidates caches).
GENERATOR_VERSION = 1

SPLITS = ("train", "val", "test")
SHAPE_FAMILIES = ("primitive", "composite", "deformed", "mesh")
TEXTURES = ("solid", "checker", "stripes", "noise", "natural")
BACKGROUNDS = ("solid", "gradient", "natural")
CAMERA_LAYOUTS = ("ring", "random", "stereo")
MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")


@dataclass(frozen=True)
class SyntheticConfig:
    """What the generator renders. Ranges ``(lo, hi)`` are sampled uniformly per scene.

    World frame: z up (gravity along -z), scene units; the object's bounding sphere has
    radius ``object_scale`` and is centred at ``center`` (origin by default).
    """

    num_train: int = 2000  # scenes per split
    num_val: int = 200
    num_test: int = 200
    image_size: tuple[int, int] = (64, 64)  # (H, W)
    num_views: int = 1  # cameras per scene
    num_points: int = 2048  # GT surface points per scene
    shape_families: tuple[str, ...] = ("primitive", "composite", "deformed")  # + "mesh"
    mesh_dir: str | None = None  # folder of .obj/.ply/.off/.stl meshes (family "mesh")
    textures: tuple[str, ...] = TEXTURES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    focal_px: float | None = None  # default: from fov_deg
    fov_deg: float = 40.0  # field of view across the SHORTER image side
    # Must exceed radius / sin(fov/2) (2.92 for radius 1 at 40 deg) for the object to fit.
    camera_distance: tuple[float, float] = (3.0, 3.4)
    elevation_deg: tuple[float, float] = (-10.0, 40.0)  # above the object's horizontal plane
    object_scale: tuple[float, float] = (0.9, 1.0)  # bounding-sphere radius
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)  # bounding-sphere centre (world)
    max_tilt_deg: float = 25.0  # object tilt away from upright (yaw is uniform)
    # "ring": views evenly spaced in azimuth at one elevation/distance (1 view = random azimuth);
    # "random": independent random views; "stereo": rectified pairs (needs num_views == 2).
    camera_layout: str = "ring"
    stereo_baseline: tuple[float, float] = (0.2, 0.4)  # scene units, right camera along +x_cam
    ambient: tuple[float, float] = (0.25, 0.45)  # ambient light fraction
    light_elevation_deg: tuple[float, float] = (20.0, 75.0)
    light_azimuth_deg: tuple[float, float] = (-70.0, 70.0)  # relative to the first camera
    specular: tuple[float, float] = (0.0, 0.25)  # Blinn-Phong highlight strength
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"SyntheticConfig: {msg}")

        for name, allowed in (
            ("shape_families", SHAPE_FAMILIES),
            ("textures", TEXTURES),
            ("backgrounds", BACKGROUNDS),
        ):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)  # lists from Hydra -> tuples
            if not values:
                bad(f"{name} is empty")
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                bad(f"unknown {name} {unknown}; choose from {allowed}")
        for name in ("image_size", "camera_distance", "elevation_deg", "object_scale", "center",
                     "stereo_baseline", "ambient", "light_elevation_deg", "light_azimuth_deg",
                     "specular"):
            object.__setattr__(self, name, tuple(float(v) if name != "image_size" else int(v)
                                                 for v in getattr(self, name)))
        if "mesh" in self.shape_families and not self.mesh_dir:
            bad('shape family "mesh" needs mesh_dir')
        if self.camera_layout not in CAMERA_LAYOUTS:
            bad(f"camera_layout {self.camera_layout!r} not in {CAMERA_LAYOUTS}")
        if self.camera_layout == "stereo" and self.num_views != 2:
            bad("camera_layout 'stereo' needs num_views == 2")
        for name in ("num_views", "num_points"):
            if getattr(self, name) < 1:
                bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            bad(f"image_size must be two positive ints (H, W), got {list(self.image_size)}")
        for name in ("num_train", "num_val", "num_test"):
            if getattr(self, name) < 0:
                bad(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("camera_distance", "object_scale", "elevation_deg", "stereo_baseline", "ambient",
                     "light_elevation_deg", "light_azimuth_deg", "specular"):
            lo, hi = getattr(self, name)
            if lo > hi:
                bad(f"{name} range must be (low, high) with low <= high, got {[lo, hi]}")
        if self.camera_distance[0] <= 0 or self.object_scale[0] <= 0:
            bad(f"camera_distance and object_scale must be positive, got {list(self.camera_distance)}, "
                f"{list(self.object_scale)}")
        if not 0 < self.fov_deg < 180:
            bad(f"fov_deg must be in (0, 180), got {self.fov_deg}")
        if self.focal_px is not None and self.focal_px <= 0:
            bad(f"focal_px must be positive, got {self.focal_px}")

    @property
    def families(self) -> tuple[str, ...]:
        """Shape families in use: ``shape_families`` plus "mesh" when ``mesh_dir`` is set."""
        fams = tuple(self.shape_families)
        if self.mesh_dir and "mesh" not in fams:
            fams = fams + ("mesh",)
        return fams

    def intrinsics(self, dtype=None) -> "torch.Tensor":
        """K (3, 3) of every camera: ``focal_px``, or the focal length giving ``fov_deg`` across the shorter side."""
        import torch

        from recon.geometry.cameras import intrinsics_from_focal

        H, W = self.image_size
        focal = self.focal_px if self.focal_px is not None else min(H, W) / 2 / math.tan(math.radians(self.fov_deg) / 2)
        return intrinsics_from_focal(float(focal), H, W, dtype=dtype or torch.float32)

    def split_size(self, split: str) -> int:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def mesh_files(mesh_dir: str | Path) -> list[Path]:
    """Sorted mesh files (by name) in ``mesh_dir``; ValueError if missing or none found."""
    d = Path(mesh_dir).expanduser()
    if not d.is_dir():
        raise ValueError(f"mesh_dir {str(d)!r} does not exist or is not a folder")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise ValueError(f"mesh_dir {str(d)!r} holds no mesh files ({', '.join(MESH_SUFFIXES)})")
    return files


def config_hash(cfg: SyntheticConfig) -> str:
    """Stable 12-hex-digit key of the config, GENERATOR_VERSION and the mesh files' names/sizes."""
    payload = {"version": GENERATOR_VERSION, "config": cfg.to_dict()}
    if cfg.mesh_dir:
        payload["meshes"] = [(p.name, p.stat().st_size) for p in mesh_files(cfg.mesh_dir)]
        payload["config"]["mesh_dir"] = None  # the folder's content matters, not its path
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:12]
