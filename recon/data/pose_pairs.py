"""Relative camera pose data: pairs of views of the synthetic multi-view scenes -> the pose between them.

Items (one pair of views ``(i, j)``, ``i < j``, of one scene):

- ``images``      (2, 3, H, W) float32 RGB in [0, 1]; ``K`` (2, 3, 3) float32 intrinsics in pixels
- ``R`` (3, 3), ``t`` (3,) float32: view 0's frame to view 1's, ``x_1 = R x_0 + t`` (OpenCV axes; ``t`` in scene
  units, the methods estimate its direction)
- ``depth``       (2, 1, H, W) float32 z-depth of both views, 0 = none (training supervision: the task turns it into
  ground-truth correspondences for models that match)
- ``angle``       () float32 the rotation angle between the views, degrees
- ``wide``        () bool: ``angle >= wide_angle_deg`` (the wide-baseline subset)
- ``low_texture`` () bool: the less textured image of the pair has a mean grey-level gradient (Sobel, 0-255 grey per
  pixel) below ``low_texture_gradient`` (the low-texture subset)
- ``index``, ``scene`` () int64

Training items are augmented (``augment``): the two views swap places with probability 1/2 (``R -> R^T``,
``t -> -R^T t``), and each image is rolled about its optical axis by an angle uniform in ``[-roll_deg, roll_deg]``
(:func:`roll_view`, an exact camera rotation: the image is warped by ``K R_z K^-1`` and the pose follows), so the
relative rotations are not only the ring's turns about the world's vertical.

Pairs: every pair of a scene's views that see a common ground-truth object point (the MVSNet view-selection score
is positive) and are at most ``max_angle_deg`` apart. With ``pure_rotation_deg: [low, high]`` (an evaluation set,
``data=pose_rotations``) the pairs are instead every view and the same camera turned on the spot by a rotation about a
random axis by ``low..high`` degrees (the image warped by ``K R K^-1``, exact for a pure rotation; ``t = 0``, so the
metrics score the rotation alone and a method should report the translation undefined).

The renders are the multi-view generator's (cached the same way, ``data.synthetic``), so a pose split and a
multi-view split with the same generator settings are the same scenes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from recon.data.multi_view import MultiViewDataModule
from recon.geometry.cameras import camera_centers, look_at
from recon.geometry.multiview import relative_pose
from recon.geometry.poses import rotation_error_deg
from recon.geometry.view_selection import view_selection_scores


def mean_gradient(rgb: torch.Tensor) -> torch.Tensor:
    """Mean Sobel gradient magnitude of grey images: ``(..., H, W, 3)`` uint8 -> ``(...)`` (grey levels per pixel)."""
    grey = (rgb.float() @ torch.tensor([0.299, 0.587, 0.114])).flatten(0, -3)[:, None]
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    gx = F.conv2d(grey, kx[None, None])
    gy = F.conv2d(grey, kx.T.contiguous()[None, None])
    return torch.sqrt(gx.square() + gy.square()).mean((1, 2, 3)).view(rgb.shape[:-3])


def rotation_z(angle_rad: torch.Tensor) -> torch.Tensor:
    """``(...)`` -> ``(..., 3, 3)`` rotations about the camera's optical axis (z)."""
    c, s = angle_rad.cos(), angle_rad.sin()
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).view(*c.shape, 3, 3)


def rotate_view(image: torch.Tensor, K: torch.Tensor, R: torch.Tensor, depth: bool = False) -> torch.Tensor:
    """The image ``(C, H, W)`` of the camera turned on the spot by ``R`` (new camera frame ``x' = R x``): pixel
    ``u'`` shows what the old camera saw at ``K R^T K^-1 u'`` (bilinear; 0 outside). ``depth=True``: a ``(1, H, W)``
    z-depth map, sampled by nearest neighbour and rescaled to the new camera's z (``z' = z / w`` with ``w`` the third
    coordinate of ``R^T K^-1 u'``; 1 for a rotation about the optical axis, which keeps every z-depth)."""
    _, H, W = image.shape
    v, u = torch.meshgrid(torch.arange(H, dtype=K.dtype), torch.arange(W, dtype=K.dtype), indexing="ij")
    pixels = torch.stack([u, v, torch.ones_like(u)], -1).view(-1, 3)
    rays = pixels @ (R.T @ torch.linalg.inv(K)).T.to(K.dtype)  # in the old camera's frame
    source = rays @ K.T
    uv = source[:, :2] / source[:, 2:]
    grid = torch.stack([(uv[:, 0] + 0.5) / W * 2 - 1, (uv[:, 1] + 0.5) / H * 2 - 1], -1).view(1, H, W, 2)
    mode = "nearest" if depth else "bilinear"
    out = F.grid_sample(image[None], grid.to(image.dtype), mode=mode, align_corners=False, padding_mode="zeros")[0]
    if depth:
        w = rays[:, 2].view(1, H, W).to(image.dtype)
        out = torch.where((w > 0) & (out > 0), out / w.clamp_min(1e-9), 0.0)
    return out


def roll_view(image: torch.Tensor, K: torch.Tensor, angle_rad: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """:func:`rotate_view` by ``R_z(angle)``, a roll about the optical axis (``mode`` nearest: a depth map)."""
    return rotate_view(image, K, rotation_z(angle_rad).to(K.dtype), depth=mode == "nearest")


def random_rotations(n: int, low_deg: float, high_deg: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` rotations ``(n, 3, 3)`` about axes uniform on the sphere by angles uniform in ``[low, high]`` degrees,
    and the angles ``(n,)`` (a seeded generator: the same pairs every time)."""
    g = torch.Generator().manual_seed(seed)
    axes = F.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    angles = low_deg + (high_deg - low_deg) * torch.rand(n, generator=g, dtype=torch.float64)
    x, y, z = (axes * torch.deg2rad(angles)[:, None]).unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(n, 3, 3)
    return torch.linalg.matrix_exp(skew).float(), angles.float()


def check_thresholds(**values: float) -> None:
    """``ValueError`` naming ``data.<key>`` unless each angle (``*_deg``) is in (0, 180] degrees and each gradient in
    (0, 255] grey levels."""
    for name, value in values.items():
        high = 180 if name.endswith("_deg") else 255
        if not (isinstance(value, (int, float)) and 0 < value <= high):
            raise ValueError(f"data.{name} must be in (0, {high}], got {value!r}")


class PosePairDataset(Dataset):
    """Pairs of one split's views (module docstring). Attributes: ``pairs`` (N, 3) ``(scene, i, j)``, ``angle`` (N,),
    ``wide``, ``low_texture`` (N,) bool, ``ids``."""

    def __init__(
        self,
        arrays: dict,
        max_angle_deg: float,
        wide_angle_deg: float,
        low_texture_gradient: float,
        augment: bool = False,
        roll_deg: float = 0.0,
        pure_rotation_deg: tuple[float, float] | None = None,
    ):
        self.augment, self.roll = augment, torch.deg2rad(torch.tensor(float(roll_deg)))
        self.rgb = torch.from_numpy(arrays["rgb"])  # (S, V, H, W, 3) uint8
        self.K = torch.from_numpy(arrays["K"]).float()
        self.depth = torch.from_numpy(arrays["depth"])  # (S, V, H, W)
        T_cw = torch.from_numpy(arrays["T_cw"]).double()
        points = torch.from_numpy(arrays["points"]).double()
        visible = torch.from_numpy(arrays["point_visible"])
        S, V = self.rgb.shape[:2]
        gradient = mean_gradient(self.rgb) if S else torch.zeros(0, V)
        i, j = torch.triu_indices(V, V, offset=1)
        pairs, angles, relative, texture = [], [], [], []
        for s in range(S):
            scores = view_selection_scores(points[s : s + 1], camera_centers(T_cw[s : s + 1]), visible[s : s + 1])[0]
            T = relative_pose(T_cw[s, i], T_cw[s, j])
            angle = rotation_error_deg(T[:, :3, :3], torch.eye(3, dtype=T.dtype).expand_as(T[:, :3, :3]))
            keep = (scores[i, j] > 0) & (angle <= max_angle_deg)
            pairs.append(torch.stack([torch.full_like(i[keep], s), i[keep], j[keep]], -1))
            angles.append(angle[keep])
            relative.append(T[keep])
            texture.append(torch.minimum(gradient[s, i[keep]], gradient[s, j[keep]]))
        self.pairs = torch.cat(pairs) if pairs else torch.zeros(0, 3, dtype=torch.long)
        self.T = torch.cat(relative).float() if relative else torch.zeros(0, 4, 4)
        self.angle = torch.cat(angles).float() if angles else torch.zeros(0)
        self.wide = self.angle >= wide_angle_deg
        self.low_texture = (torch.cat(texture) if texture else torch.zeros(0)) < low_texture_gradient
        scene_ids = arrays["ids"].tolist()
        self.ids = [f"{scene_ids[s]}/view{a}-view{b}" for s, a, b in self.pairs.tolist()]
        self.turns = None
        if pure_rotation_deg is not None:  # every view paired with itself turned on the spot
            views = torch.cartesian_prod(torch.arange(S), torch.arange(V)).view(-1, 2)
            self.pairs = torch.cat([views, views[:, 1:]], 1)
            self.turns, self.angle = random_rotations(len(views), *pure_rotation_deg, seed=len(views))
            self.T = torch.eye(4).repeat(len(views), 1, 1)
            self.T[:, :3, :3] = self.turns
            self.wide = self.angle >= wide_angle_deg
            self.low_texture = gradient.reshape(-1) < low_texture_gradient
            self.ids = [f"{scene_ids[s]}/view{v}-turned" for s, v in views.tolist()]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        s, a, b = self.pairs[n].tolist()
        images = self.rgb[s, [a, b]].permute(0, 3, 1, 2).float().div_(255.0)
        K, R, t = self.K[s, [a, b]], self.T[n, :3, :3], self.T[n, :3, 3]
        depth = self.depth[s, [a, b]].float()[:, None]
        if self.turns is not None:
            images = torch.stack([images[0], rotate_view(images[0], K[0], R)])
            depth = torch.stack([depth[0], rotate_view(depth[0], K[0], R, depth=True)])
        if self.augment:
            if torch.rand(()) < 0.5:
                images, K, R, t, depth = images.flip(0), K.flip(0), R.T, -R.T @ t, depth.flip(0)
            if self.roll > 0:
                angles = (torch.rand(2) * 2 - 1) * self.roll
                images = torch.stack([roll_view(images[k], K[k], angles[k]) for k in range(2)])
                depth = torch.stack([roll_view(depth[k], K[k], angles[k], mode="nearest") for k in range(2)])
                roll0, roll1 = rotation_z(angles)
                R, t = roll1 @ R @ roll0.T, roll1 @ t
        return {
            "images": images,
            "K": K,
            "R": R,
            "t": t,
            "depth": depth,
            "angle": self.angle[n],
            "wide": self.wide[n],
            "low_texture": self.low_texture[n],
            "index": torch.tensor(n),
            "scene": torch.tensor(s),
        }


class PosePairDataModule(MultiViewDataModule):
    """Pairs of views of the synthetic multi-view scenes with their relative pose (module docstring).

    Args: ``synthetic`` etc. as :class:`~recon.data.multi_view.MultiViewDataModule`; ``max_angle_deg`` (pairs at
    most this far apart), ``wide_angle_deg`` and ``low_texture_gradient`` (the subsets' thresholds), ``augment`` and
    ``roll_deg`` (training split only: swap and roll, module docstring), ``pure_rotation_deg`` (pairs of each view
    and itself turned on the spot instead, module docstring); ``num_source``
    and ``depth_range`` (inherited multi-view keys) are ignored.
    """

    problem = "pose"

    def __init__(
        self,
        synthetic: dict | None = None,
        cache_dir: str = "data/cache",
        batch_size: int = 16,
        num_workers: int = 0,
        render_workers: int = 0,
        pin_memory: bool = False,
        max_angle_deg: float = 90.0,
        wide_angle_deg: float = 45.0,
        low_texture_gradient: float = 4.0,
        augment: bool = True,
        roll_deg: float = 15.0,
        pure_rotation_deg: list[float] | None = None,
        num_source: int | None = None,
        depth_range: list[float] | None = None,
    ):
        del num_source, depth_range  # keys of the multi-view config this one extends; pairs use neither
        super().__init__(synthetic, cache_dir, batch_size, num_workers, render_workers, pin_memory, num_source=1)
        check_thresholds(
            max_angle_deg=max_angle_deg, wide_angle_deg=wide_angle_deg, low_texture_gradient=low_texture_gradient
        )
        self.max_angle_deg, self.wide_angle_deg = float(max_angle_deg), float(wide_angle_deg)
        self.low_texture_gradient = float(low_texture_gradient)
        if not 0 <= roll_deg <= 180:
            raise ValueError(f"data.roll_deg must be in [0, 180], got {roll_deg!r}")
        self.augment, self.roll_deg = bool(augment), float(roll_deg)
        if pure_rotation_deg is not None:
            low_high = list(pure_rotation_deg) if isinstance(pure_rotation_deg, Sequence) else []
            if len(low_high) != 2 or not all(isinstance(x, (int, float)) for x in low_high):
                raise ValueError(f"data.pure_rotation_deg must be [low, high] degrees, got {pure_rotation_deg!r}")
            if not 0 < low_high[0] <= low_high[1] <= 90:
                raise ValueError(f"data.pure_rotation_deg must satisfy 0 < low <= high <= 90, got {low_high}")
            pure_rotation_deg = (float(low_high[0]), float(low_high[1]))
        self.pure_rotation_deg = pure_rotation_deg

    def make_dataset(self, split: str, arrays: dict) -> PosePairDataset:
        augment = self.augment and split == "train"
        thresholds = (self.max_angle_deg, self.wide_angle_deg, self.low_texture_gradient)
        return PosePairDataset(
            arrays, *thresholds, augment=augment, roll_deg=self.roll_deg, pure_rotation_deg=self.pure_rotation_deg
        )

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """Two views 30 degrees apart on a ring, random images (no rendering)."""
        (H, W), B = self.image_size, batch_size
        az = torch.deg2rad(torch.tensor([0.0, 30.0], dtype=torch.float64))
        eye = 2.5 * torch.stack([az.cos(), az.sin(), torch.full_like(az, 0.5)], -1)
        T_cw = look_at(eye, torch.zeros(2, 3, dtype=torch.float64), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
        T = relative_pose(T_cw[:1], T_cw[1:])[0].float()
        g = torch.Generator().manual_seed(0)
        return {
            "images": torch.rand(B, 2, 3, H, W, generator=g),
            "K": self.config.intrinsics().expand(B, 2, 3, 3).clone(),
            "R": T[:3, :3].expand(B, 3, 3).clone(),
            "t": T[:3, 3].expand(B, 3).clone(),
            "depth": torch.full((B, 2, 1, H, W), 2.5),
            "angle": torch.full((B,), 30.0),
            "wide": torch.zeros(B, dtype=torch.bool),
            "low_texture": torch.zeros(B, dtype=torch.bool),
            "index": torch.arange(B),
            "scene": torch.arange(B),
        }

    def describe(self) -> dict:
        return {
            **super().describe(),
            "max_angle_deg": self.max_angle_deg,
            "wide_angle_deg": self.wide_angle_deg,
            "low_texture_gradient": self.low_texture_gradient,
            "augment": self.augment,
            "roll_deg": self.roll_deg,
            "pure_rotation_deg": self.pure_rotation_deg,
        }
