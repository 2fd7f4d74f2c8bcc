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


# Bump whenever the arrays of stereo scenes change for an unchanged StereoSceneConfig.
STEREO_SCENE_VERSION = 1


@dataclass(frozen=True)
class StereoSceneConfig:
    """Cluttered scenes seen by a rectified stereo pair (see :mod:`recon.data.synthetic.stereo_scene`).

    Several objects (``shape_families``) and thin rods in front of a ground plane and, with probability
    ``wall_probability``, a slanted back wall (otherwise an empty "sky" at infinity, without ground truth).
    Every surface either camera sees has a disparity ``focal_px * baseline / depth`` inside
    ``disparity_range`` (pixels). Shading is Lambertian (no highlights), so both views of a point agree.
    Ranges ``(lo, hi)`` are sampled uniformly per scene (per object for sizes).
    """

    num_train: int = 2000  # stereo pairs per split
    num_val: int = 200
    num_test: int = 200
    image_size: tuple[int, int] = (128, 256)  # (H, W)
    focal_px: float = 160.0
    baseline: tuple[float, float] = (0.2, 0.4)  # scene units, right camera along +x_cam
    disparity_range: tuple[float, float] = (2.0, 60.0)  # px, of every surface the cameras see
    num_objects: tuple[int, int] = (4, 8)
    object_size: tuple[float, float] = (0.08, 0.3)  # bounding-sphere radius on screen / image height
    num_thin: tuple[int, int] = (0, 3)  # thin rods (poles, wires)
    thin_width_px: tuple[float, float] = (0.8, 3.0)  # rod diameter on screen
    wall_probability: float = 0.8
    pitch_deg: tuple[float, float] = (-5.0, 12.0)  # camera looks down by this angle (rectified pair: no roll)
    texture_size: tuple[float, float] = (0.3, 0.8)  # one texture unit on screen / image height
    shape_families: tuple[str, ...] = ("primitive", "composite", "deformed")  # + "mesh"
    mesh_dir: str | None = None
    textures: tuple[str, ...] = TEXTURES  # "solid" = textureless, "checker"/"stripes" = repetitive
    backgrounds: tuple[str, ...] = BACKGROUNDS  # the "sky" of scenes without a wall
    num_points: int = 1024  # GT surface samples of the objects (world frame)
    ambient: tuple[float, float] = (0.25, 0.45)
    light_elevation_deg: tuple[float, float] = (20.0, 75.0)
    light_azimuth_deg: tuple[float, float] = (-70.0, 70.0)  # relative to the direction towards the camera
    supersample: int = 2  # colour rays per pixel = supersample^2 (box-filtered anti-aliasing)
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"StereoSceneConfig: {msg}")

        for name, allowed in (("shape_families", SHAPE_FAMILIES), ("textures", TEXTURES),
                              ("backgrounds", BACKGROUNDS)):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            if not values:
                bad(f"{name} is empty")
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                bad(f"unknown {name} {unknown}; choose from {allowed}")
        ints = ("image_size", "num_objects", "num_thin")
        for name in ints + ("baseline", "disparity_range", "object_size", "thin_width_px", "pitch_deg",
                            "texture_size", "ambient", "light_elevation_deg", "light_azimuth_deg"):
            values = tuple(int(v) if name in ints else float(v) for v in getattr(self, name))
            object.__setattr__(self, name, values)
            if len(values) != 2:
                bad(f"{name} must have two values, got {list(values)}")
            if name != "image_size" and values[0] > values[1]:
                bad(f"{name} range must be (low, high) with low <= high, got {list(values)}")
        object.__setattr__(self, "focal_px", float(self.focal_px))
        if "mesh" in self.shape_families and not self.mesh_dir:
            bad('shape family "mesh" needs mesh_dir')
        if min(self.image_size) < 2:
            bad(f"image_size must be two ints >= 2 (H, W), got {list(self.image_size)}")
        for name in ("num_train", "num_val", "num_test"):
            if getattr(self, name) < 0:
                bad(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.num_points < 1 or self.supersample < 1:
            bad(f"num_points and supersample must be >= 1, got {self.num_points}, {self.supersample}")
        if self.focal_px <= 0 or self.baseline[0] <= 0 or self.disparity_range[0] <= 0:
            bad(f"focal_px, baseline and disparity_range must be positive, got {self.focal_px}, "
                f"{list(self.baseline)}, {list(self.disparity_range)}")
        if self.disparity_range[0] == self.disparity_range[1]:
            bad(f"disparity_range must not be empty, got {list(self.disparity_range)}")
        if self.num_objects[0] < 0 or self.num_thin[0] < 0:
            bad(f"num_objects and num_thin must be >= 0, got {list(self.num_objects)}, {list(self.num_thin)}")
        if self.object_size[0] <= 0 or self.thin_width_px[0] <= 0 or self.texture_size[0] <= 0:
            bad("object_size, thin_width_px and texture_size must be positive")
        # an object's depth extent (+- its radius) must fit between the nearest and farthest depth
        near_far = self.disparity_range[0] / self.disparity_range[1]
        s = self.object_size[1] * self.image_size[0] / self.focal_px
        if s >= 1 or (1 + s) / (1 - s) * near_far >= 1:
            bad(f"objects of object_size {self.object_size[1]} (radius {s:.2f} x their depth) do not fit into "
                f"disparity_range {list(self.disparity_range)}: make the objects smaller or the range wider")
        if not 0 <= self.wall_probability <= 1:
            bad(f"wall_probability must be in [0, 1], got {self.wall_probability}")
        half_fov = math.degrees(math.atan((self.image_size[0] - 1) / 2 / self.focal_px))
        if self.pitch_deg[0] <= -half_fov or self.pitch_deg[1] >= 60:
            bad(f"pitch_deg must lie in ({-half_fov:.1f}, 60) so that the ground is seen and lies below the "
                f"camera, got {list(self.pitch_deg)}")

    @property
    def families(self) -> tuple[str, ...]:
        """Shape families in use: ``shape_families`` plus "mesh" when ``mesh_dir`` is set."""
        fams = tuple(self.shape_families)
        if self.mesh_dir and "mesh" not in fams:
            fams = fams + ("mesh",)
        return fams

    def intrinsics(self, dtype=None) -> "torch.Tensor":
        """K (3, 3) of both cameras (square pixels, principal point at the image centre)."""
        import torch

        from recon.geometry.cameras import intrinsics_from_focal

        H, W = self.image_size
        return intrinsics_from_focal(self.focal_px, H, W, dtype=dtype or torch.float32)

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


def config_hash(cfg: SyntheticConfig | StereoSceneConfig) -> str:
    """Stable 12-hex-digit key of the config, GENERATOR_VERSION and the mesh files' names/sizes.

    Stereo scene configs add their own generator name and version, so the keys of
    :class:`SyntheticConfig` caches are the same as before stereo scenes existed.
    """
    payload = {"version": GENERATOR_VERSION, "config": cfg.to_dict()}
    if isinstance(cfg, StereoSceneConfig):
        payload["scene"] = ["stereo", STEREO_SCENE_VERSION]
    if cfg.mesh_dir:
        payload["meshes"] = [(p.name, p.stat().st_size) for p in mesh_files(cfg.mesh_dir)]
        payload["config"]["mesh_dir"] = None  # the folder's content matters, not its path
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:12]
