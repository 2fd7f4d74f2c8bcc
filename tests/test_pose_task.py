"""Relative pose through the runner: the configs compose, a run scores the model and the classical baseline on the
same test pairs (overall and per subset), the loss is zero at the truth and grows with the error, and a short run
learns (slow)."""

import json
import math

import pytest
import torch

from recon.engine.runner import train
from recon.models.relative_pose_net import RelativePoseNet
from recon.tasks.pose import PoseTask
from tests.helpers.configs import TINY_POSE_DATA

TINY_POSE = [
    *TINY_POSE_DATA,
    "model=pose_net",
    "model.input_size=[32,48]",
    "model.widths=[8,16]",
    "model.head_widths=[32]",
    "logger=none",
]


def rot_z(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_loss_is_zero_at_the_truth_and_grows_with_the_error():
    task = PoseTask(RelativePoseNet(input_size=(16, 16), widths=(8,), head_widths=(8,)), reference=False)
    batch = {"R": rot_z(30.0)[None], "t": torch.tensor([[0.0, 0.0, 2.0]])}
    exact = task.losses({"R": rot_z(30.0)[None], "t": torch.tensor([[0.0, 0.0, 5.0]])}, batch)
    assert float(exact["loss"]) == pytest.approx(0.0, abs=1e-6)
    # 10 degrees off: chordal distance 2 sqrt(2) sin(5 deg); translation at 90 degrees: 1 - cos = 1
    off = task.losses({"R": rot_z(40.0)[None], "t": torch.tensor([[1.0, 0.0, 0.0]])}, batch)
    assert float(off["rotation"]) == pytest.approx(2 * math.sqrt(2) * math.sin(math.radians(5)), rel=1e-4)
    assert float(off["translation"]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="task.translation_weight"):
        PoseTask(RelativePoseNet(input_size=(16, 16), widths=(8,), head_widths=(8,)), translation_weight=-1)


def test_match_loss_is_small_at_the_true_matches_and_skips_cells_without_one():
    """Two views of a plane 2 units away, the second camera 0.5 to the left: view-0 cell (r, c) matches cell
    (r, c + 1) and the right column has no match; logits peaked at the true cells give a near-zero loss, flat
    logits log(4) (four cells)."""
    K = torch.tensor([[16.0, 0.0, 3.5], [0.0, 16.0, 3.5], [0.0, 0.0, 1.0]]).expand(1, 2, 3, 3)
    batch = {
        "images": torch.zeros(1, 2, 3, 8, 8),
        "K": K,
        "depth": torch.full((1, 2, 1, 8, 8), 2.0),
        "R": torch.eye(3)[None],
        "t": torch.tensor([[0.5, 0.0, 0.0]]),
    }
    peaked = torch.full((1, 4, 4), -50.0)
    peaked[0, 0, 1] = peaked[0, 2, 3] = 50.0
    assert float(PoseTask.match_loss(peaked, batch)) == pytest.approx(0.0, abs=1e-6)
    assert float(PoseTask.match_loss(torch.zeros(1, 4, 4), batch)) == pytest.approx(math.log(4))


def test_a_run_scores_the_model_and_the_classical_baseline_per_subset(make_config, tmp_path):
    train(make_config([*TINY_POSE, "trainer.max_epochs=1"]))
    metrics = json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    for prefix in ("test/", "test/reference/", "test/wide/", "test/reference/wide/"):
        for key in ("rotation_error", "translation_error", "auc@5", "auc@10", "auc@20", "failure_rate", "pairs"):
            assert prefix + key in metrics, prefix + key
    assert metrics["test/pairs"] == metrics["test/reference/pairs"] > 0
    assert metrics["test/wide/pairs"] == metrics["test/reference/wide/pairs"] <= metrics["test/pairs"]
    assert metrics["test/failure_rate"] == 0  # the network always answers
    assert 0 <= metrics["test/reference/auc@10"] <= 1


@pytest.mark.slow
def test_a_short_run_learns_the_rotation(make_config, tmp_path):
    """Fifteen epochs on 12 tiny ring scenes without augmentation: the test rotation error falls well below the
    untrained network's (which answers the identity: the pairs' own angle, 60 degrees with 6 views on the ring)."""
    torch.manual_seed(0)
    overrides = [*TINY_POSE, "trainer.max_epochs=15", "callbacks.early_stopping=null", "task.optimizer.lr=3e-3",
                 "data.synthetic.num_train=12", "data.augment=false"]  # fmt: skip
    train(make_config(overrides))
    metrics = json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    assert metrics["test/rotation_error"] < 30.0, metrics
