"""The input modalities of the multi-modal models, the check of a model's choice of them, and the completion that
keeps the measured points."""

import torch

MODALITIES = ("image", "depth")


def check_modalities(modalities) -> tuple[str, ...]:
    """``modalities`` as a tuple; ``ValueError`` naming ``model.modalities`` unless it is a non-empty subset of
    :data:`MODALITIES` without repeats."""
    modalities = tuple(modalities)
    if not modalities or len(set(modalities)) != len(modalities) or set(modalities) - set(MODALITIES):
        raise ValueError(f"model.modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
    return modalities


def measured_then_decoded(decoded: torch.Tensor, partial: torch.Tensor, has_depth: torch.Tensor) -> torch.Tensor:
    """The measured points ``partial (B, K, 3)`` followed by the ``decoded (B, N, 3)`` ones: ``(B, K + N, 3)``. The
    completion keeps what the sensor saw exactly (as the partial-input baselines do); an item without depth
    (``has_depth (B,)`` false) repeats its decoded points in the measured ones' place."""
    filler = decoded[:, torch.arange(partial.shape[1], device=decoded.device) % decoded.shape[1]]
    measured = torch.where(has_depth.bool()[:, None, None], partial, filler)
    return torch.cat([measured, decoded], dim=1)
