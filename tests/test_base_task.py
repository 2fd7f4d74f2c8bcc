"""ReconTask, the base of every task: weighted losses, metric collections outside the state dict, reference fitting."""

from types import SimpleNamespace

import pytest
import torch

from recon.metrics.stereo import StereoMetrics
from recon.models.point_set_cnn import PointSetCNN
from recon.models.sgbm import SGBMStereo
from recon.models.voxel_vae import VoxelVAE
from recon.tasks.losses import last_weights, multi_scale_smooth_l1
from recon.tasks.single_view import SingleViewTask
from recon.tasks.stereo import StereoTask, region_metrics
from tests.test_vae_task import SMALL

POINTS = {k: SMALL[k] for k in ("num_points", "widths", "feature_dim", "hidden_dim")}


@pytest.mark.parametrize(
    "make_task, reference_keys",
    [
        (lambda: SingleViewTask(PointSetCNN(**POINTS)), {"reference.template", "reference.fitted"}),
        (lambda: SingleViewTask(PointSetCNN(**POINTS), reference=False), set()),
        (
            lambda: SingleViewTask(VoxelVAE(**SMALL, resolution=16, channels=16)),
            {"reference.template", "reference.fitted"}
            | {f"occupancy_reference.{k}" for k in ("probability", "threshold", "fitted")},
        ),
        (lambda: StereoTask(SGBMStereo(max_disparity=16)), set()),
    ],
)
def test_the_state_dict_holds_the_model_and_references_but_no_metric_state(make_task, reference_keys):
    task = make_task()
    model_keys = {f"model.{k}" for k in task.model.state_dict()}
    assert set(task.state_dict()) == model_keys | reference_keys
    assert list(task.state_dict())[: len(model_keys)] == [f"model.{k}" for k in task.model.state_dict()]


def test_losses_are_the_weighted_sum_of_the_named_terms():
    pred = [torch.full((1, 1, 2, 2), v) for v in (1.0, 2.0, 3.0)]
    gt, mask = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool)
    weights = last_weights([0.5, 0.5, 0.7, 1.0], 3, torch.nn.Identity(), "maps")
    terms, loss_weights = multi_scale_smooth_l1(pred, gt, mask, 1.0, weights)
    assert loss_weights == {"smooth_l1_0": 0.5, "smooth_l1_1": 0.7, "smooth_l1_2": 1.0}
    assert terms["smooth_l1"].item() == terms["smooth_l1_2"].item() == 2.5
    single, single_weights = multi_scale_smooth_l1(pred[-1:], gt, mask, 1.0, weights[-1:])
    assert set(single) == {"smooth_l1"} and single_weights == {"smooth_l1": 1.0}
    with pytest.raises(ValueError, match="returns 5 maps but task.loss_weights has 4 weights"):
        last_weights([0.5, 0.5, 0.7, 1.0], 5, torch.nn.Identity(), "maps")


def test_region_metrics_keep_their_own_states_when_masks_coincide():
    g = torch.Generator().manual_seed(0)
    batches = []
    for same in (True, False):
        gt = torch.rand(2, 1, 4, 5, generator=g) * 10
        valid = torch.rand(2, 1, 4, 5, generator=g) > 0.2
        nonoccluded = valid if same else valid & (torch.rand(2, 1, 4, 5, generator=g) > 0.5)
        batches.append((gt + torch.randn(2, 1, 4, 5, generator=g) * 3, gt, valid, nonoccluded))
    collection = region_metrics("val/")
    alone = {
        "valid": StereoMetrics("all", prefix="val/"),
        "nonoccluded": StereoMetrics("nonoccluded", prefix="val/"),
        "matchable": StereoMetrics("matchable", prefix="val/"),
    }
    for pred, gt, valid, nonoccluded in batches:
        masks = {"valid": valid, "nonoccluded": nonoccluded, "matchable": nonoccluded}
        for metric in collection.values():
            metric.update(pred, gt, masks[metric.mask_key])
        for key, metric in alone.items():
            metric.update(pred, gt, masks[key])
    expected = {k: v for metric in alone.values() for k, v in metric.compute().items()}
    values = collection.compute()
    assert set(values) == set(expected) and all(torch.equal(values[k], expected[k]) for k in expected)
    assert values["val/epe_all"] != values["val/epe_noc"]


def test_references_are_fitted_on_the_datamodule_training_split():
    task = SingleViewTask(PointSetCNN(**POINTS))
    g = torch.Generator().manual_seed(0)
    train = SimpleNamespace(points=torch.randn(6, 50, 3, generator=g), center=torch.zeros(6, 3), occupancy=None)
    calls = []
    datamodule = SimpleNamespace(train_dataset=lambda: calls.append(1) or train)
    task.fit_reference(datamodule)
    assert bool(task.reference.fitted) and calls == [1]
    task.fit_reference(datamodule)  # already fitted: the data is not asked again
    assert calls == [1]
    with pytest.raises(ValueError, match="training split"):
        SingleViewTask(PointSetCNN(**POINTS)).fit_reference(None)


def test_training_chamfer_loss_uses_a_fresh_random_subset_of_the_ground_truth():
    task = SingleViewTask(PointSetCNN(**POINTS), loss_points=16)
    points = torch.randn(2, 50, 3, generator=torch.Generator().manual_seed(0))
    task.train()
    first, second = task.loss_target(points), task.loss_target(points)
    assert first.shape == (2, 16, 3)
    for subset in (first, second):  # rows of the original clouds, the same rows for every batch element
        rows = (subset[:, :, None] == points[:, None]).all(-1)  # (B, 16, 50)
        assert (rows.sum(-1) == 1).all() and (rows[0] == rows[1]).all()
    assert not torch.equal(first, second)
    task.eval()  # validation and test losses use every point
    assert task.loss_target(points) is points
    assert SingleViewTask(PointSetCNN(**POINTS), loss_points=None).train().loss_target(points) is points
    with pytest.raises(ValueError, match="task.loss_points"):
        SingleViewTask(PointSetCNN(**POINTS), loss_points=0)
