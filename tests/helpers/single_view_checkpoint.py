"""A tiny untrained single-view checkpoint, saved the way training saves one."""

from pathlib import Path

import torch

from recon.models.point_set_cnn import PointSetCNN
from recon.tasks.single_view import SingleViewTask

MODEL = {
    "_target_": "recon.models.point_set_cnn.PointSetCNN",
    "num_points": 64,
    "widths": [8, 16],
    "feature_dim": 32,
    "hidden_dim": 64,
}
DATA = {
    "_target_": "recon.data.single_view.SingleViewDataModule",
    "synthetic": {"image_size": [32, 32], "fov_deg": 40.0, "camera_distance": [2.8, 2.8]},
}


def save_checkpoint(path: Path, model_cfg: dict = MODEL) -> Path:
    torch.manual_seed(0)
    task = SingleViewTask(PointSetCNN(num_points=64, widths=[8, 16], feature_dim=32, hidden_dim=64), reference=False)
    torch.save(
        {
            "state_dict": task.state_dict(),
            "recon": {
                "config": {
                    "data": DATA,
                    "model": model_cfg,
                    # as in a real training checkpoint: the training-only optimizer/scheduler name torch classes
                    "task": {
                        "_target_": "recon.tasks.single_view.SingleViewTask",
                        "reference": False,
                        "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3},
                        "scheduler": {
                            "_target_": "torch.optim.lr_scheduler.CosineAnnealingLR",
                            "_partial_": True,
                            "T_max": 2,
                        },
                    },
                },
                "version": "0.1.0",
            },
        },
        path,
    )
    return path
