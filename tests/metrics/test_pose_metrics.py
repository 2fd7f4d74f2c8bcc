"""Relative-pose metrics against hand-derived cases: failures scored as 180 degrees, pure rotations scored on the
rotation alone, medians and AUC from the same errors computed by hand."""

import math

import pytest
import torch

from recon.geometry.poses import pose_auc
from recon.metrics.poses import RelativePoseMetrics, pose_errors


def rot_x(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def test_pose_errors_hand_cases():
    eye = torch.eye(3)
    R_pred = torch.stack([rot_x(4.0), eye, eye, rot_x(2.0), eye])
    t_pred = torch.tensor([[1.0, 0, 0], [1.0, 1.0, 0], [1.0, 0, 0], [0.0, 0, 0], [-1.0, 0, 0]])
    valid = torch.tensor([True, True, False, True, True])
    R_true = torch.eye(3).expand(5, 3, 3)
    t_true = torch.tensor([[2.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0], [1.0, 0, 0]])
    rotation, translation, pose = pose_errors(R_pred, t_pred, valid, R_true, t_true)
    # 0: rotation 4, translation 0 -> pose 4;  1: translation 45 -> pose 45;  2: failed -> 180 in both
    # 3: a pure rotation (true t = 0): translation undefined, pose = rotation 2;  4: opposite sign -> 0 (invariant)
    assert rotation.tolist() == pytest.approx([4.0, 0.0, 180.0, 2.0, 0.0], abs=1e-4)
    assert translation[:3].tolist() == pytest.approx([0.0, 45.0, 180.0], abs=1e-4)
    assert math.isnan(translation[3]) and float(translation[4]) == pytest.approx(0.0, abs=1e-4)
    assert pose.tolist() == pytest.approx([4.0, 45.0, 180.0, 2.0, 0.0], abs=1e-4)
    # a true direction with no estimated direction is a translation failure
    _, translation, pose = pose_errors(eye[None], torch.zeros(1, 3), torch.tensor([True]), eye[None], t_true[:1])
    assert translation.tolist() == [180.0] and pose.tolist() == [180.0]


def test_metric_accumulates_batches_and_reports_medians_auc_and_failures():
    metric = RelativePoseMetrics(prefix="test/")
    eye = torch.eye(3)
    angles = [1.0, 3.0, 8.0, 15.0]
    for deg in angles:
        metric.update(
            rot_x(deg)[None],
            torch.tensor([[0.0, 0.0, 1.0]]),
            torch.tensor([True]),
            eye[None],
            torch.tensor([[0.0, 0.0, 1.0]]),
        )
    metric.update(
        eye[None], torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([False]), eye[None], torch.tensor([[0.0, 0.0, 1.0]])
    )
    out = metric.compute()
    assert float(out["test/rotation_error"]) == pytest.approx(8.0, abs=1e-3)  # median of 1, 3, 8, 15, 180
    assert float(out["test/translation_error"]) == pytest.approx(0.0, abs=1e-3)  # 0 four times, 180 once
    assert float(out["test/failure_rate"]) == pytest.approx(0.2) and float(out["test/pairs"]) == 5
    expected = pose_auc(torch.tensor(angles + [180.0]), (5.0, 10.0, 20.0))
    for threshold, value in zip((5, 10, 20), expected, strict=True):
        assert float(out[f"test/auc@{threshold}"]) == pytest.approx(float(value), abs=1e-4)
    # by hand at 5 degrees: the curve (0,0) (1,.2) (3,.4) then flat at .4 to 5 -> (0.1 + 0.6 + 0.8) / 5 = 0.3
    assert float(out["test/auc@5"]) == pytest.approx(0.3, abs=1e-4)
