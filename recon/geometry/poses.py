"""Camera poses: the continuous 6D rotation parametrisation, rotation and translation-direction errors, the pose AUC of
the relative-pose literature, similarity (Sim(3)) alignment, and the trajectory errors ATE and RPE.

Conventions: a relative pose ``(R, t)`` maps the first camera's frame to the second's, ``x_1 = R x_0 + t`` (OpenCV
axes, as :func:`~recon.geometry.multiview.relative_pose` and ``cv2.recoverPose``); trajectories are camera-to-world
poses ``T_wc (N, 4, 4)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "absolute_trajectory_error",
    "cell_correspondences",
    "matrix_to_rotation_6d",
    "pose_auc",
    "relative_pose_error",
    "rotation_6d_to_matrix",
    "rotation_error_deg",
    "translation_error_deg",
    "umeyama_alignment",
]


def rotation_6d_to_matrix(x: Tensor) -> Tensor:
    """``(..., 6) -> (..., 3, 3)``: the rotation whose first two columns are the Gram-Schmidt orthonormalisation of
    ``x[..., :3]`` and ``x[..., 3:]`` (Zhou et al., "On the Continuity of Rotation Representations in Neural
    Networks", CVPR 2019); the third column is their cross product."""
    if x.shape[-1] != 6:
        raise ValueError(f"a 6D rotation must be (..., 6), got {tuple(x.shape)}")
    b1 = F.normalize(x[..., :3], dim=-1)
    b2 = F.normalize(x[..., 3:] - (b1 * x[..., 3:]).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack([b1, b2, torch.linalg.cross(b1, b2)], dim=-1)


def matrix_to_rotation_6d(R: Tensor) -> Tensor:
    """``(..., 3, 3) -> (..., 6)``: the first two columns (inverse of :func:`rotation_6d_to_matrix` on rotations)."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def rotation_error_deg(R_pred: Tensor, R_true: Tensor) -> Tensor:
    """Geodesic angle between rotations ``(..., 3, 3)`` -> ``(...)`` degrees in ``[0, 180]``: the angle of
    ``R_pred^T R_true``, from its trace."""
    trace = (R_pred.transpose(-1, -2) @ R_true).diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1.0, 1.0)))


def translation_error_deg(t_pred: Tensor, t_true: Tensor, *, sign_invariant: bool = False, eps: float = 1e-9) -> Tensor:
    """Angle between translation directions ``(..., 3)`` -> ``(...)`` degrees; NaN where either has no direction
    (norm <= ``eps``: identical viewpoints). ``sign_invariant``: ``min(angle, 180 - angle)``, the convention of
    essential-matrix evaluations whose sign is ambiguous (SuperGlue's protocol)."""
    n_pred, n_true = t_pred.norm(dim=-1), t_true.norm(dim=-1)
    cos = (t_pred * t_true).sum(-1) / (n_pred * n_true).clamp(min=eps)
    angle = torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))
    if sign_invariant:
        angle = torch.minimum(angle, 180.0 - angle)
    return angle.masked_fill((n_pred <= eps) | (n_true <= eps), float("nan"))


def pose_auc(errors_deg: Tensor, thresholds: tuple[float, ...] = (5.0, 10.0, 20.0)) -> Tensor:
    """Area under the cumulative error curve up to each threshold, divided by the threshold (the relative-pose AUC of
    SuperGlue / LoFTR; a perfect method scores 1): ``(N,)`` errors in degrees (180 or ``inf`` for failures) ->
    ``(len(thresholds),)`` float64. The curve joins ``(0, 0)`` and ``(e_i, i / N)`` for the sorted errors by straight
    lines and stays at its last value up to the threshold (trapezoidal rule, as those papers compute it)."""
    errors = torch.sort(errors_deg.double().flatten().cpu()).values
    n = len(errors)
    if n == 0:
        raise ValueError("pose_auc needs at least one error")
    if torch.isnan(errors).any():
        raise ValueError("pose_auc got NaN errors: count failures as 180 degrees")
    recall = torch.arange(n + 1, dtype=torch.float64) / n
    errors = torch.cat([errors.new_zeros(1), errors])
    out = []
    for threshold in thresholds:
        last = int(torch.searchsorted(errors, torch.tensor(float(threshold), dtype=torch.float64)))
        e = torch.cat([errors[:last], errors.new_tensor([threshold])])
        r = torch.cat([recall[:last], recall[last - 1 : last]])
        out.append(float(torch.trapezoid(r, e)) / threshold)
    return torch.tensor(out, dtype=torch.float64)


def umeyama_alignment(source: Tensor, target: Tensor, with_scale: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """The similarity ``(s, R, t)`` minimising ``sum ||s R source_i + t - target_i||^2`` (Umeyama, TPAMI 1991):
    ``source, target (N, 3)`` with ``N >= 3`` points not all on a line -> ``s ()``, ``R (3, 3)`` (a rotation, no
    reflection), ``t (3,)``. ``with_scale=False``: the rigid fit, ``s = 1``."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[-1] != 3 or len(source) < 3:
        raise ValueError(
            f"umeyama_alignment needs two (N >= 3, 3) point sets, got {tuple(source.shape)}, {tuple(target.shape)}"
        )
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    covariance = xt.T @ xs / len(source)
    U, S, Vh = torch.linalg.svd(covariance)
    D = torch.ones(3, dtype=source.dtype, device=source.device)
    if torch.det(U) * torch.det(Vh) < 0:
        D[2] = -1
    R = U @ torch.diag(D) @ Vh
    variance = xs.square().sum(-1).mean()
    s = (S * D).sum() / variance if with_scale else source.new_tensor(1.0)
    return s, R, mu_t - s * R @ mu_s


def _check_trajectory(name: str, T: Tensor) -> None:
    if T.ndim != 3 or T.shape[-2:] != (4, 4):
        raise ValueError(f"{name} must be (N, 4, 4) camera-to-world poses, got {tuple(T.shape)}")


def absolute_trajectory_error(T_wc_pred: Tensor, T_wc_true: Tensor, with_scale: bool = True) -> Tensor:
    """ATE (TUM protocol): the RMSE of camera positions after aligning the predicted positions to the true ones by
    :func:`umeyama_alignment` (Sim(3), or SE(3) with ``with_scale=False``). ``(N, 4, 4)`` each -> ``()``."""
    _check_trajectory("T_wc_pred", T_wc_pred)
    _check_trajectory("T_wc_true", T_wc_true)
    p, q = T_wc_pred[:, :3, 3], T_wc_true[:, :3, 3]
    s, R, t = umeyama_alignment(p, q, with_scale)
    return (s * p @ R.T + t - q).square().sum(-1).mean().sqrt()


def relative_pose_error(T_wc_pred: Tensor, T_wc_true: Tensor, delta: int = 1) -> tuple[Tensor, Tensor]:
    """RPE (TUM protocol) over steps of ``delta`` frames, after a Sim(3) alignment of the positions (so the
    prediction's scale is the truth's): the RMSE of the relative motions' translation error and the mean of their
    rotation error in degrees. ``(N, 4, 4)`` each, ``N > delta`` -> ``(translation, rotation_deg)``."""
    _check_trajectory("T_wc_pred", T_wc_pred)
    _check_trajectory("T_wc_true", T_wc_true)
    if not 1 <= delta < len(T_wc_true):
        raise ValueError(f"delta must be in [1, {len(T_wc_true) - 1}], got {delta}")
    s, R, t = umeyama_alignment(T_wc_pred[:, :3, 3], T_wc_true[:, :3, 3])
    aligned = T_wc_pred.clone()
    aligned[:, :3, :3] = R @ T_wc_pred[:, :3, :3]
    aligned[:, :3, 3] = s * T_wc_pred[:, :3, 3] @ R.T + t
    motion_pred = torch.linalg.inv(aligned[:-delta]) @ aligned[delta:]
    motion_true = torch.linalg.inv(T_wc_true[:-delta]) @ T_wc_true[delta:]
    error = torch.linalg.inv(motion_true) @ motion_pred
    translation = error[:, :3, 3].square().sum(-1).mean().sqrt()
    eye = torch.eye(3, dtype=error.dtype, device=error.device).expand_as(error[:, :3, :3])
    return translation, rotation_error_deg(error[:, :3, :3], eye).mean()


def cell_correspondences(
    depth0: Tensor, depth1: Tensor, K0: Tensor, K1: Tensor, R: Tensor, t: Tensor, grid: tuple[int, int],
    max_relative_depth: float = 0.05,
) -> Tensor:  # fmt: skip
    """Ground-truth matches between the cells of a ``grid = (h, w)`` laid over two views: for each cell of view 0,
    the index (row-major) of the view-1 cell its centre's surface point falls in, or -1 where view 0 has no depth
    there, the point leaves view 1 or lies behind it, or view 1 sees another surface there (its depth differs by more
    than ``max_relative_depth``: occluded).

    Args:
        depth0, depth1: (B, 1, H, W) z-depth, 0 = none. K0, K1: (B, 3, 3). R (B, 3, 3), t (B, 3): view 0 -> view 1.
    Returns:
        (B, h * w) int64.
    """
    B, _, H, W = depth0.shape
    h, w = grid
    u = ((torch.arange(w, device=depth0.device, dtype=depth0.dtype) + 0.5) * (W / w) - 0.5).round().long()
    v = ((torch.arange(h, device=depth0.device, dtype=depth0.dtype) + 0.5) * (H / h) - 0.5).round().long()
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    z0 = depth0[:, 0, vv, uu].reshape(B, -1)
    pixels = torch.stack([uu, vv, torch.ones_like(uu)], -1).reshape(-1, 3).to(depth0.dtype)
    points0 = z0[..., None] * (pixels @ torch.linalg.inv(K0).transpose(-1, -2))
    points1 = points0 @ R.transpose(-1, -2) + t[:, None]
    z1 = points1[..., 2]
    uv1 = (points1 @ K1.transpose(-1, -2))[..., :2] / z1.clamp(min=1e-9)[..., None]
    col, row = uv1[..., 0].round().long(), uv1[..., 1].round().long()
    inside = (z0 > 0) & (z1 > 1e-9) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
    seen = depth1[:, 0].reshape(B, -1).gather(1, (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)))
    visible = inside & ((seen - z1).abs() <= max_relative_depth * z1)
    cell = ((row.clamp(0, H - 1) + 0.5) * h / H).long().clamp(max=h - 1) * w + (
        (col.clamp(0, W - 1) + 0.5) * w / W
    ).long().clamp(max=w - 1)
    return torch.where(visible, cell, torch.full_like(cell, -1))
