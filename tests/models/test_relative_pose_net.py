"""The relative-pose network: outputs are rotations and unit directions, the identity before training, intrinsics
carried through the resize (the camera-coordinate channels), every weight learns, bad settings named."""

import pytest
import torch

from recon.models.relative_pose_net import RelativePoseNet

SMALL = dict(input_size=(16, 24), widths=(8, 16), head_widths=(16,))


def pair(B: int = 2, H: int = 16, W: int = 24) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    K = torch.tensor([[20.0, 0.0, W / 2 - 0.5], [0.0, 21.0, H / 2 - 0.5], [0.0, 0.0, 1.0]])
    return {"images": torch.rand(B, 2, 3, H, W, generator=g), "K": K.expand(B, 2, 3, 3).clone()}


def test_outputs_are_rotations_and_directions_and_the_identity_at_first():
    torch.manual_seed(0)
    model = RelativePoseNet(**SMALL).eval()
    with torch.no_grad():
        out = model(**pair())
    assert out["R"].shape == (2, 3, 3) and out["t"].shape == (2, 3)
    torch.testing.assert_close(out["R"], torch.eye(3).expand(2, 3, 3))  # the rotation head starts at zero
    torch.testing.assert_close(out["t"].norm(dim=-1), torch.ones(2))
    assert out["valid"].all() and out["translation_defined"].all()


def test_resizing_keeps_each_pixels_viewing_ray():
    """An image twice the working size: each working pixel's camera-coordinate channels are the rays through the
    centres of the 2x2 input pixels it covers (their mean), from the input's own intrinsics."""
    model = RelativePoseNet(**SMALL)
    big = pair(1, 32, 48)
    x = model.prepare(big["images"], big["K"])
    assert x.shape == (2, 5, 16, 24)
    K = big["K"][0, 0]
    u, v = 2 * 5 + 0.5, 2 * 3 + 0.5  # working pixel (5, 3) covers input pixels 10..11 x 6..7: centre (10.5, 6.5)
    torch.testing.assert_close(x[0, 3:, 3, 5], torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]]))


def test_every_weight_learns():
    torch.manual_seed(0)
    model = RelativePoseNet(**SMALL)
    out = model(**pair())
    target = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ((out["R"] - target).square().sum() + out["t"][:, 0].sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


@pytest.mark.parametrize(
    "kwargs, match", [({"input_size": (10, 24)}, "model.input_size"), ({"norm": "layer"}, "model.norm")]
)
def test_bad_settings_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RelativePoseNet(**{**SMALL, **kwargs})
    with pytest.raises(ValueError, match="images must be"):
        RelativePoseNet(**SMALL)(images=torch.zeros(1, 3, 3, 16, 24), K=torch.eye(3).expand(1, 3, 3, 3))
