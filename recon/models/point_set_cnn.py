"""PSGN-style single-view point-set generator (Fan, Su, Guibas, CVPR 2017), sized for CPU training."""

import torch
from torch import nn

from recon.models.blocks import ImageEncoder, check_positive, point_set_decoder


class PointSetCNN(nn.Module):
    """Image encoder + fully connected point-set decoder.

    Input  ``image`` (B, 3, H, W) in [0, 1]; output ``{"points": (B, num_points, 3)}`` in the camera frame of the
    datamodule (OpenCV axes, scene units). ``init_depth`` starts the cloud around (0, 0, init_depth), the typical
    object depth of the data, so early training is not spent moving it there.
    """

    problem = "single_view"
    inputs = ("image",)

    def __init__(
        self,
        num_points: int = 1024,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        feature_dim: int = 512,
        hidden_dim: int = 1024,
        init_depth: float = 3.2,
        pool: int = 2,
        norm: str = "batch",
    ):
        super().__init__()
        check_positive(num_points=num_points, feature_dim=feature_dim, hidden_dim=hidden_dim)
        self.num_points = num_points
        self.encoder = ImageEncoder(tuple(widths), feature_dim, pool, norm)
        self.decoder = point_set_decoder(feature_dim, hidden_dim, num_points)
        self.register_buffer("offset", torch.tensor([0.0, 0.0, float(init_depth)]), persistent=False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        points = self.decoder(self.encoder(image)).view(-1, self.num_points, 3)
        return {"points": points + self.offset}
