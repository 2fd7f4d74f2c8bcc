"""Image encoder + template-deformation decoder (in the spirit of FoldingNet / AtlasNet's sphere variant).

A shared MLP moves each point of a fixed unit-sphere template, conditioned on the image feature. Sharing the MLP
across points makes the output a continuous deformation of the template: points cannot get stuck individually,
and they spread over the surface rather than collapsing to the ambiguous interior.
"""

import torch
from torch import nn

from recon.geometry.pointcloud import fibonacci_sphere
from recon.models.blocks import ImageEncoder, check_positive


class FoldingCNN(nn.Module):
    """Input ``image`` (B, 3, H, W) in [0, 1]; output ``{"points": (B, num_points, 3)}`` in the camera frame.

    ``init_depth`` centres the template at (0, 0, init_depth), the typical object depth of the data.
    """

    problem = "single_view"
    inputs = ("image",)

    def __init__(
        self,
        num_points: int = 1024,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        feature_dim: int = 512,
        hidden_dim: int = 256,
        pool: int = 2,
        init_depth: float = 3.2,
    ):
        super().__init__()
        check_positive(num_points=num_points, feature_dim=feature_dim, hidden_dim=hidden_dim)
        self.encoder = ImageEncoder(tuple(widths), feature_dim, pool)
        self.register_buffer("template", fibonacci_sphere(num_points), persistent=False)
        self.template_in = nn.Linear(3, hidden_dim)
        self.feature_in = nn.Linear(feature_dim, hidden_dim)
        self.mlp = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim // 2),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim // 2, 3),
        )
        self.register_buffer("offset", torch.tensor([0.0, 0.0, float(init_depth)]), persistent=False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        feature = self.feature_in(self.encoder(image))  # (B, hidden)
        # the first layer on [template, feature] split in two, so the feature part is computed once per image
        hidden = self.template_in(self.template)[None] + feature[:, None]  # (B, N, hidden)
        return {"points": self.template + self.mlp(hidden) + self.offset}
