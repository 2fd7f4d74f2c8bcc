"""VoxelVAE: grid shapes, initial occupancy, surface read-out placed at the centre, sampling."""

import pytest
import torch

from recon.models.voxel_vae import VoxelVAE

TINY = dict(
    num_points=50,
    widths=(8, 16),
    feature_dim=32,
    hidden_dim=64,
    latent_dim=4,
    resolution=16,
    extent=1.0,
    channels=16,
    shape_points=100,
    shape_widths=(16, 32),
    latent_hidden_dim=32,
    occupancy_prior=0.1,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return VoxelVAE(**TINY)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    center = torch.tensor([[0.0, 0.0, 3.0], [0.1, -0.2, 3.4]])
    return torch.rand(2, 3, 32, 32, generator=g), center, center[:, None] + 0.5 * torch.randn(2, 200, 3, generator=g)


def test_training_forward(model, batch):
    image, center, points = batch
    model.train()
    out = model(image, center, points)
    assert set(out) == {"occupancy_logits", "kl"}
    assert out["occupancy_logits"].shape == (2, 1, 16, 16, 16) and out["kl"].shape == (2,)
    out["occupancy_logits"].mean().backward()
    assert model.encoder.head[2].weight.grad.abs().sum() > 0


def test_starts_near_the_occupancy_prior(model, batch):
    model.eval()
    with torch.no_grad():
        p = model(*batch[:2])["occupancy_logits"].sigmoid()
    assert abs(float(p.mean()) - 0.1) < 0.05


def test_eval_points_lie_on_the_predicted_surface_inside_the_cube(model, batch):
    image, center, _ = batch
    model.eval()
    with torch.no_grad():
        model.deconv[-1].bias.fill_(2.0)  # make sure some voxels are occupied
        out = model(image, center)
    assert out["points"].shape == (2, 50, 3)
    assert ((out["points"] - center[:, None]).abs() <= 1.0 + 1e-5).all()
    assert torch.equal(out["points"], model.to_points(out["occupancy_logits"], center))


def test_samples(model, batch):
    image, center, _ = batch
    model.eval()
    with torch.no_grad():
        model.deconv[-1].bias.fill_(1.0)
    s = model.sample(image, center, 3, torch.Generator().manual_seed(0))
    assert s.shape == (2, 3, 50, 3)
    assert torch.equal(s, model.sample(image, center, 3, torch.Generator().manual_seed(0)))
    assert ((s - center[:, None, None]).abs() <= 1.0 + 1e-5).all()


@pytest.mark.parametrize("resolution", [4, 12, 0])
def test_rejects_resolutions_the_decoder_cannot_make(resolution):
    with pytest.raises(ValueError, match="resolution"):
        VoxelVAE(**{**TINY, "resolution": resolution})
