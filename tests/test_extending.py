"""The README's "adding a model family" walkthrough: a plain nn.Module + config, no runner or task change."""

import json

from torch import nn

from recon.engine.runner import train
from tests.helpers.configs import TINY_DATA


class MyNet(nn.Module):
    """Verbatim the README example."""

    problem = "single_view"
    inputs = ("image", "K")

    def __init__(self, num_points: int = 1024):
        super().__init__()
        self.num_points = num_points
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_points * 3))

    def forward(self, image, K):
        return {"points": self.net(image).view(-1, self.num_points, 3)}


def test_a_new_model_family_trains_through_the_unchanged_runner(make_config, tmp_path):
    cfg = make_config(
        TINY_DATA
        + [
            "~model",
            "+model._target_=tests.test_extending.MyNet",
            "+model.num_points=64",
            "trainer.max_epochs=1",
            "logger=none",
            "callbacks=none",
        ]
    )
    train(cfg)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["model_family"] == "MyNet"
    assert summary["metrics"]["test/chamfer_l1"] > 0
