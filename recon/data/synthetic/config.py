"""Configuration of the synthetic scene generator and its cache key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Bump whenever the generated arrays change for an unchanged config (invalidates caches).
GENERATOR_VERSION = 1

SPLITS = ("train", "val", "test")
SHAPE_FAMILIES = ("primitive", "composite", "deformed", "mesh")
TEXTURES = ("solid", "checker", "stripes", "noise", "natural")
BACKGROUNDS = ("solid", "gradient", "natural")
CAMERA_LAYOUTS = ("ring", "random", "stereo")
MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl")


@dataclass(frozen=True)
class GeneratorConfig:
    """The fields and methods every generator config shares: split sizes, resolution, scene content, lighting, seed.

    Subclasses give the first five fields their defaults (field order is this class's, then the subclass's own).
    """

    num_train: int  # scenes per split
    num_val: int
    num_test: int
    image_size: tuple[int, int]  # (H, W)
    num_points: int  # GT surface samples
    shape_families: tuple[str, ...] = ("primitive", "composite", "deformed")  # + "mesh"
    mesh_dir: str | None = None  # folder of .obj/.ply/.off/.stl meshes (family "mesh")
    textures: tuple[str, ...] = TEXTURES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    ambient: tuple[float, float] = (0.25, 0.45)  # ambient light fraction
    light_elevation_deg: tuple[float, float] = (20.0, 75.0)
    light_azimuth_deg: tuple[float, float] = (-70.0, 70.0)  # relative to the (first) camera
    seed: int = 0
    # families of the TEST split only, e.g. ("mesh",) with mesh_dir: objects never trained on; None: as the others
    test_families: tuple[str, ...] | None = None

    @property
    def families(self) -> tuple[str, ...]:
        """Shape families in use: ``shape_families`` plus "mesh" when ``mesh_dir`` is set."""
        fams = tuple(self.shape_families)
        if self.mesh_dir and "mesh" not in fams:
            fams = fams + ("mesh",)
        return fams

    def families_for(self, split: str) -> tuple[str, ...]:
        """The shape families of ``split``: with ``test_families``, those for the test split and ``shape_families``
        alone for train and val (so a mesh folder given for the test objects is never trained on); else
        :attr:`families` for every split."""
        if self.test_families is None:
            return self.families
        return tuple(self.test_families) if split == "test" else tuple(self.shape_families)

    def check_test_families(self) -> None:
        """Raise ``ValueError`` for unknown or empty ``test_families`` or "mesh" among them without ``mesh_dir``."""
        if self.test_families is None:
            return
        object.__setattr__(self, "test_families", tuple(self.test_families))
        unknown = sorted(set(self.test_families) - set(SHAPE_FAMILIES))
        if not self.test_families or unknown:
            raise ValueError(f"test_families must be a non-empty list of {SHAPE_FAMILIES}, got {self.test_families}")
        if "mesh" in self.test_families and not self.mesh_dir:
            raise ValueError('test_families "mesh" needs mesh_dir')

    def intrinsics(self, dtype=None) -> torch.Tensor:
        """K (3, 3) of every camera (square pixels of ``focal_px``, principal point at the image centre)."""
        import torch

        from recon.geometry.cameras import intrinsics_from_focal

        H, W = self.image_size
        return intrinsics_from_focal(self.focal_px, H, W, dtype=dtype or torch.float32)

    def split_size(self, split: str) -> int:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["test_families"] is None:  # absent when unused: the cache keys of earlier configs stay the same
            del d["test_families"]
        return d


@dataclass(frozen=True)
class SyntheticConfig(GeneratorConfig):
    """What the generator renders. Ranges ``(lo, hi)`` are sampled uniformly per scene.

    World frame: z up (gravity along -z), scene units; the object's bounding sphere has
    radius ``object_scale`` and is centred at ``center`` (origin by default).
    """

    num_train: int = 2000  # scenes per split
    num_val: int = 200
    num_test: int = 200
    image_size: tuple[int, int] = (64, 64)  # (H, W)
    num_points: int = 2048  # GT surface points per scene
    num_views: int = 1  # cameras per scene
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
    specular: tuple[float, float] = (0.0, 0.25)  # Blinn-Phong highlight strength

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"SyntheticConfig: {msg}")

        try:
            self.check_test_families()
        except ValueError as e:
            raise ValueError(f"SyntheticConfig: {e}") from None

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
        for name in (
            "image_size",
            "camera_distance",
            "elevation_deg",
            "object_scale",
            "center",
            "stereo_baseline",
            "ambient",
            "light_elevation_deg",
            "light_azimuth_deg",
            "specular",
        ):
            object.__setattr__(
                self, name, tuple(float(v) if name != "image_size" else int(v) for v in getattr(self, name))
            )
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
        for name in (
            "camera_distance",
            "object_scale",
            "elevation_deg",
            "stereo_baseline",
            "ambient",
            "light_elevation_deg",
            "light_azimuth_deg",
            "specular",
        ):
            lo, hi = getattr(self, name)
            if lo > hi:
                bad(f"{name} range must be (low, high) with low <= high, got {[lo, hi]}")
        if self.camera_distance[0] <= 0 or self.object_scale[0] <= 0:
            bad(
                f"camera_distance and object_scale must be positive, got {list(self.camera_distance)}, "
                f"{list(self.object_scale)}"
            )
        if not 0 < self.fov_deg < 180:
            bad(f"fov_deg must be in (0, 180), got {self.fov_deg}")
        if self.focal_px is not None and self.focal_px <= 0:
            bad(f"focal_px must be positive, got {self.focal_px}")

    def intrinsics(self, dtype=None) -> torch.Tensor:
        """K (3, 3) of every camera: ``focal_px``, or the focal length giving ``fov_deg`` across the shorter side."""
        import torch

        from recon.geometry.cameras import intrinsics_from_focal

        H, W = self.image_size
        focal = self.focal_px if self.focal_px is not None else min(H, W) / 2 / math.tan(math.radians(self.fov_deg) / 2)
        return intrinsics_from_focal(float(focal), H, W, dtype=dtype or torch.float32)


# Bump whenever the arrays of stereo scenes change for an unchanged StereoSceneConfig.
STEREO_SCENE_VERSION = 1


@dataclass(frozen=True)
class StereoSceneConfig(GeneratorConfig):
    """Cluttered scenes seen by a rectified stereo pair (see :mod:`recon.data.synthetic.stereo_scene`).

    Several objects (``shape_families``) and thin rods in front of a ground plane and, with probability
    ``wall_probability``, a slanted back wall (otherwise an empty "sky" at infinity, without ground truth).
    Every surface either camera sees has a disparity ``focal_px * baseline / depth`` inside
    ``disparity_range`` (pixels). Shading is Lambertian (no highlights), so both views of a point agree.
    Ranges ``(lo, hi)`` are sampled uniformly per scene (per object for sizes). ``textures``: "solid" is
    textureless, "checker" and "stripes" are repetitive; ``backgrounds``: the "sky" of scenes without a wall.
    """

    num_train: int = 2000  # stereo pairs per split
    num_val: int = 200
    num_test: int = 200
    image_size: tuple[int, int] = (128, 256)  # (H, W)
    num_points: int = 1024  # GT surface samples of the objects (world frame)
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
    supersample: int = 2  # colour rays per pixel = supersample^2 (box-filtered anti-aliasing)

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ValueError(f"StereoSceneConfig: {msg}")

        try:
            self.check_test_families()
        except ValueError as e:
            raise ValueError(f"StereoSceneConfig: {e}") from None

        for name, allowed in (("shape_families", SHAPE_FAMILIES), ("textures", TEXTURES), ("backgrounds", BACKGROUNDS)):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            if not values:
                bad(f"{name} is empty")
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                bad(f"unknown {name} {unknown}; choose from {allowed}")
        ints = ("image_size", "num_objects", "num_thin")
        for name in ints + (
            "baseline",
            "disparity_range",
            "object_size",
            "thin_width_px",
            "pitch_deg",
            "texture_size",
            "ambient",
            "light_elevation_deg",
            "light_azimuth_deg",
        ):
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
            bad(
                f"focal_px, baseline and disparity_range must be positive, got {self.focal_px}, "
                f"{list(self.baseline)}, {list(self.disparity_range)}"
            )
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
            bad(
                f"objects of object_size {self.object_size[1]} (radius {s:.2f} x their depth) do not fit into "
                f"disparity_range {list(self.disparity_range)}: make the objects smaller or the range wider"
            )
        if not 0 <= self.wall_probability <= 1:
            bad(f"wall_probability must be in [0, 1], got {self.wall_probability}")
        half_fov = math.degrees(math.atan((self.image_size[0] - 1) / 2 / self.focal_px))
        if self.pitch_deg[0] <= -half_fov or self.pitch_deg[1] >= 60:
            bad(
                f"pitch_deg must lie in ({-half_fov:.1f}, 60) so that the ground is seen and lies below the "
                f"camera, got {list(self.pitch_deg)}"
            )


# Bump whenever the arrays of multi-view scenes change for an unchanged MultiViewSceneConfig.
MULTI_VIEW_SCENE_VERSION = 2  # 2: object_mask
MULTI_VIEW_LAYOUTS = ("ring", "hemisphere", "trajectory")
TRAJECTORY_OBJECT_SIZE = StereoSceneConfig.object_size  # clutter of trajectory scenes: the stereo scenes' defaults


@dataclass(frozen=True)
class MultiViewSceneConfig(GeneratorConfig):
    """Scenes seen by ``num_views`` calibrated cameras, for multi-view stereo (see :mod:`.multi_view_scene`).

    ``layout``:

    - ``"ring"``: ``num_objects`` objects (bounding-sphere radius ``object_scale``, scene units) stand on a textured
      ground (the plane z = 0) inside a disc of radius ``scene_radius`` around the world origin; the cameras look at
      the point above the origin halfway up the tallest object from ``camera_distance``, evenly spaced in azimuth at
      one elevation (``elevation_deg``) and distance per scene.
    - ``"hemisphere"``: the same scenes; every camera independently, uniform on the zone of the upper hemisphere
      between the ``elevation_deg`` limits, at its own distance.
    - ``"trajectory"``: a cluttered scene of :mod:`.stereo_scene` (``num_objects`` objects, ``num_thin`` rods, ground,
      a back wall with probability ``wall_probability``, else a sky without ground truth) whose first camera sees
      every surface at a depth in ``depth_slab``; the camera (pitched down by ``pitch_deg``, no roll or yaw) moves
      forward horizontally by ``travel * depth_slab[0]`` from the first to the last view in equal steps, every view
      but the first also shifted by up to ``sway * depth_slab[0]`` along each image axis (depths unchanged).
      Forward motion gives little parallax near the image centre: these scenes are hard for multi-view stereo.

    Shading is Lambertian (a point has one colour in every view); ``supersample`` anti-aliases the colour.
    ``backgrounds`` fill what lies behind the scene (no ground truth). ``fov_deg`` spans the shorter image side.
    Ranges ``(lo, hi)`` are sampled uniformly.
    """

    num_train: int = 1000  # scenes per split
    num_val: int = 50
    num_test: int = 50
    image_size: tuple[int, int] = (96, 128)  # (H, W)
    num_points: int = 2048  # GT surface samples of the objects (world frame)
    num_views: int = 10  # cameras per scene
    layout: str = "ring"
    fov_deg: float = 50.0
    num_objects: tuple[int, int] = (2, 4)  # objects that do not fit are left out
    # ring / hemisphere
    object_scale: tuple[float, float] = (0.25, 0.45)  # bounding-sphere radius, scene units
    scene_radius: float = 1.0  # objects stand inside this disc around the origin
    camera_distance: tuple[float, float] = (2.4, 3.0)  # from the point the cameras look at
    elevation_deg: tuple[float, float] = (20.0, 50.0)
    # trajectory
    depth_slab: tuple[float, float] = (2.0, 12.0)  # scene units, depths of the first view
    travel: float = 0.5  # forward distance first -> last view / depth_slab[0], < 1
    sway: float = 0.1  # sideways / vertical offsets of the views, up to sway * depth_slab[0]
    num_thin: tuple[int, int] = (0, 2)
    wall_probability: float = 0.8
    pitch_deg: tuple[float, float] = (-5.0, 12.0)
    supersample: int = 1  # colour rays per pixel = supersample^2

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> None:  # messages start with the key (the datamodule prefixes its path)
            raise ValueError(f"MultiViewSceneConfig: {key} {msg}")

        try:
            self.check_test_families()
        except ValueError as e:
            raise ValueError(f"MultiViewSceneConfig: {e}") from None

        for name, allowed in (("shape_families", SHAPE_FAMILIES), ("textures", TEXTURES), ("backgrounds", BACKGROUNDS)):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            if not values:
                bad(name, "is empty")
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                bad(name, f"holds unknown values {unknown}; choose from {allowed}")
        ints = ("image_size", "num_objects", "num_thin")
        for name in ints + (
            "object_scale",
            "camera_distance",
            "elevation_deg",
            "depth_slab",
            "pitch_deg",
            "ambient",
            "light_elevation_deg",
            "light_azimuth_deg",
        ):
            values = tuple(int(v) if name in ints else float(v) for v in getattr(self, name))
            object.__setattr__(self, name, values)
            if len(values) != 2:
                bad(name, f"must have two values, got {list(values)}")
            if name != "image_size" and values[0] > values[1]:
                bad(name, f"must be a range (low, high) with low <= high, got {list(values)}")
        for name in ("fov_deg", "scene_radius", "travel", "sway", "wall_probability"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.layout not in MULTI_VIEW_LAYOUTS:
            bad("layout", f"{self.layout!r} is not one of {MULTI_VIEW_LAYOUTS}")
        if "mesh" in self.shape_families and not self.mesh_dir:
            bad("mesh_dir", 'is needed by shape family "mesh"')
        if min(self.image_size) < 2:
            bad("image_size", f"must be two ints >= 2 (H, W), got {list(self.image_size)}")
        for name in ("num_train", "num_val", "num_test"):
            if getattr(self, name) < 0:
                bad(name, f"must be >= 0, got {getattr(self, name)}")
        if self.num_views < 2:
            bad("num_views", f"must be >= 2 (a reference and a source), got {self.num_views}")
        for name in ("num_points", "supersample"):
            if getattr(self, name) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.num_objects[0] < 1:
            bad("num_objects", f"must be >= 1, got {list(self.num_objects)}")
        if self.num_thin[0] < 0:
            bad("num_thin", f"must be >= 0, got {list(self.num_thin)}")
        if not 0 < self.fov_deg < 180:
            bad("fov_deg", f"must be in (0, 180), got {self.fov_deg}")
        if self.scene_radius <= 0:
            bad("scene_radius", f"must be positive, got {self.scene_radius}")
        if self.object_scale[0] <= 0 or self.object_scale[1] > self.scene_radius:
            bad(
                "object_scale",
                f"must be positive and at most scene_radius = {self.scene_radius}, got {list(self.object_scale)}",
            )
        reach = math.hypot(self.scene_radius, self.object_scale[1])  # farthest object point from the look-at centre
        if self.camera_distance[0] <= reach:
            bad(
                "camera_distance",
                f"must exceed {reach:.2f} (cameras outside the objects), got {list(self.camera_distance)}",
            )
        if not (self.elevation_deg[0] >= 0 and self.elevation_deg[1] <= 85):
            bad("elevation_deg", f"must lie in [0, 85] (cameras above the ground), got {list(self.elevation_deg)}")
        if self.depth_slab[0] <= 0 or self.depth_slab[0] == self.depth_slab[1]:
            bad("depth_slab", f"must be positive and not empty, got {list(self.depth_slab)}")
        if not 0 <= self.travel < 1:
            bad(
                "travel",
                f"must be in [0, 1) (the first view's nearest surface stays ahead of every view), got {self.travel}",
            )
        if not 0 <= self.wall_probability <= 1:
            bad("wall_probability", f"must be in [0, 1], got {self.wall_probability}")
        if self.layout == "trajectory":
            s = TRAJECTORY_OBJECT_SIZE[1] * self.image_size[0] / self.focal_px
            if s >= 1 or (1 + s) / (1 - s) * self.depth_slab[0] >= self.depth_slab[1]:
                bad(
                    "depth_slab",
                    f"{list(self.depth_slab)} is too thin for trajectory objects (radius up to "
                    f"{s:.2f} x their depth): widen it",
                )
            try:
                self.clutter_config()
            except ValueError as e:  # the pitch range check: the message starts with "pitch_deg"
                msg = str(e).removeprefix("StereoSceneConfig: ")
                bad(*msg.split(" ", 1))
            # the first camera stands at least depth_slab[0] * g above the ground (stereo_scene._camera)
            p = math.radians(self.pitch_deg[0])
            g = math.cos(p) * (self.image_size[0] - 1) / 2 / self.focal_px + math.sin(p)
            if not 0 <= self.sway < g:
                bad("sway", f"must be in [0, {g:.2f}) so that every camera stays above the ground, got {self.sway}")

    @property
    def focal_px(self) -> float:
        """Focal length giving ``fov_deg`` across the shorter image side."""
        return min(self.image_size) / 2 / math.tan(math.radians(self.fov_deg) / 2)

    def clutter_config(self) -> StereoSceneConfig:
        """The stereo scene config whose (left-camera) scene a trajectory starts in: its depth slab is ``depth_slab``
        (a negligible baseline ``b`` and the disparities ``f b / depth_slab``), the content is this config's."""
        f = self.focal_px
        b = 1e-3 * self.depth_slab[0]
        return StereoSceneConfig(
            num_train=0,
            num_val=0,
            num_test=0,
            image_size=self.image_size,
            focal_px=f,
            baseline=(b, b),
            disparity_range=(f * b / self.depth_slab[1], f * b / self.depth_slab[0]),
            num_objects=self.num_objects,
            object_size=TRAJECTORY_OBJECT_SIZE,
            num_thin=self.num_thin,
            wall_probability=self.wall_probability,
            pitch_deg=self.pitch_deg,
            shape_families=self.shape_families,
            mesh_dir=self.mesh_dir,
            textures=self.textures,
            backgrounds=self.backgrounds,
            num_points=self.num_points,
            ambient=self.ambient,
            light_elevation_deg=self.light_elevation_deg,
            light_azimuth_deg=self.light_azimuth_deg,
            supersample=self.supersample,
            seed=self.seed,
            test_families=self.test_families,
        )


def mesh_files(mesh_dir: str | Path) -> list[Path]:
    """Sorted mesh files (by name) in ``mesh_dir``; ValueError if missing or none found."""
    d = Path(mesh_dir).expanduser()
    if not d.is_dir():
        raise ValueError(f"mesh_dir {str(d)!r} does not exist or is not a folder")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not files:
        raise ValueError(f"mesh_dir {str(d)!r} holds no mesh files ({', '.join(MESH_SUFFIXES)})")
    return files


def config_hash(cfg: GeneratorConfig) -> str:
    """Stable 12-hex-digit key of the config, GENERATOR_VERSION and the mesh files' names/sizes.

    Stereo and multi-view scene configs add their own generator name and version, so the keys of
    :class:`SyntheticConfig` caches are the same as before those scenes existed.
    """
    payload = {"version": GENERATOR_VERSION, "config": cfg.to_dict()}
    if isinstance(cfg, StereoSceneConfig):
        payload["scene"] = ["stereo", STEREO_SCENE_VERSION]
    elif isinstance(cfg, MultiViewSceneConfig):
        payload["scene"] = ["multi_view", MULTI_VIEW_SCENE_VERSION]
    if cfg.mesh_dir:
        payload["meshes"] = [(p.name, p.stat().st_size) for p in mesh_files(cfg.mesh_dir)]
        payload["config"]["mesh_dir"] = None  # the folder's content matters, not its path
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:12]
