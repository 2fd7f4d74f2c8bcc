"""SingleViewTask with VAE / occupancy models: loss terms, KL weight, clear errors; other models unchanged."""

import pytest
import torch
from torch.nn import functional as F

from recon.data.single_view import SingleViewDataModule
from recon.engine.validation import ConfigError, validate_components
from recon.geometry.pointcloud import chamfer_loss
from recon.models.depth_cnn import DepthCNN
from recon.models.point_set_cnn import PointSetCNN
from recon.models.point_vae import PointVAE
from recon.models.voxel_vae import VoxelVAE
from recon.tasks.single_view import SingleViewTask

SMALL = dict(
    num_points=32,
    widths=(8, 16),
    feature_dim=16,
    hidden_dim=32,
    latent_dim=4,
    shape_points=64,
    shape_widths=(8, 16),
    latent_hidden_dim=16,
)


def data(occupancy_resolution=0):
    return SingleViewDataModule({"image_size": [32, 32], "num_points": 128}, occupancy_resolution=occupancy_resolution)


def test_existing_models_get_exactly_the_old_loss():
    torch.manual_seed(0)
    batch = data().example_batch(3)
    for model in (
        PointSetCNN(**{k: SMALL[k] for k in ("num_points", "widths", "feature_dim", "hidden_dim")}),
        DepthCNN(num_points=16, widths=(8, 16)),
    ):
        task = SingleViewTask(model).train()
        out = task(batch)
        terms = task.losses(out, batch)
        expected = chamfer_loss(out["points"], batch["points"])
        if "depth" in out:
            expected = expected + (out["depth"] - batch["depth"]).abs()[batch["mask"]].mean()
            expected = expected + 0.1 * F.binary_cross_entropy_with_logits(out["mask_logits"], batch["mask"].float())
        assert torch.equal(terms["loss"], expected)
        assert "kl" not in terms and "occupancy" not in terms


def test_vae_loss_adds_the_weighted_kl_and_logs_it_unweighted():
    torch.manual_seed(0)
    batch = data().example_batch(3)
    task = SingleViewTask(PointVAE(**SMALL), kl_weight=0.5).train()
    torch.nn.init.normal_(task.model.latent.posterior_head[-1].weight, std=0.5)
    torch.manual_seed(1)
    out = task(batch)
    assert "kl" in out, "in training the task passes the points the posterior needs"
    terms = task.losses(out, batch, kl_weight=0.25)
    assert torch.allclose(terms["kl"], out["kl"].mean()) and float(terms["kl_weight"]) == 0.25
    assert torch.allclose(terms["loss"], terms["chamfer"] + 0.25 * terms["kl"])
    assert torch.allclose(task.losses(out, batch)["loss"], terms["chamfer"] + 0.5 * terms["kl"])
    task.eval()
    assert set(task(batch)) == {"points"}, "evaluation predicts from the image alone"


def test_occupancy_model_loss_is_bce_plus_kl_and_no_chamfer():
    torch.manual_seed(0)
    batch = data(16).example_batch(2)
    task = SingleViewTask(VoxelVAE(**SMALL, resolution=16, channels=16), kl_weight=0.1).train()
    out = task(batch)
    terms = task.losses(out, batch)
    expected = F.binary_cross_entropy_with_logits(out["occupancy_logits"], batch["occupancy"].float())
    assert "chamfer" not in terms
    assert torch.allclose(terms["occupancy"], expected)
    assert torch.allclose(terms["loss"], expected + 0.1 * out["kl"].mean())


def test_kl_warm_up_is_linear_in_fractional_epochs():
    task = SingleViewTask(PointVAE(**SMALL), kl_weight=0.2, kl_warmup_epochs=2)

    class FakeTrainer:
        num_training_batches = 4
        current_epoch = 0

    task._trainer = FakeTrainer()
    weights = []
    for epoch in range(3):
        FakeTrainer.current_epoch = epoch
        weights += [task.kl_weight_at(i) for i in range(4)]
    expected = [0.2 * min(1.0, (k + 1) / 8) for k in range(12)]
    assert weights == pytest.approx(expected)
    assert SingleViewTask(PointVAE(**SMALL), kl_weight=0.2).kl_weight_at(0) == 0.2


def test_missing_or_mismatched_occupancy_is_a_config_error_naming_the_key():
    model = VoxelVAE(**SMALL, resolution=16, channels=16)
    with pytest.raises(ConfigError, match=r"data\.occupancy_resolution=16"):
        validate_components(data(0), model, SingleViewTask(model))
    with pytest.raises(ConfigError, match=r"data\.occupancy_resolution=16"):
        validate_components(data(32), model, SingleViewTask(model))
    validate_components(data(16), model, SingleViewTask(model))


@pytest.mark.parametrize(
    "kwargs", [{"kl_weight": -1}, {"kl_warmup_epochs": -1}, {"num_samples": -2}, {"occupancy_weight": -0.1}]
)
def test_bad_task_arguments(kwargs):
    with pytest.raises(ValueError, match="task\\."):
        SingleViewTask(PointVAE(**SMALL), **kwargs)
