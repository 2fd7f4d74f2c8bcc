"""Two-layer depth-map CNN: an encoder-decoder predicts, per pixel, the depth of the visible surface, the
object's thickness along the ray (so the back side is reconstructed too) and an object-mask logit; the most
confident object pixels are lifted to a point cloud with the intrinsics."""

import torch
from torch import nn
from torch.nn import functional as F

from recon.geometry.cameras import unproject
from recon.models.blocks import conv_norm_act


class DepthCNN(nn.Module):
    """U-Net-style depth + thickness + mask network.

    Inputs ``image`` (B, 3, H, W) with H, W divisible by ``2**len(widths)`` and ``K`` (B, 3, 3).
    Outputs ``depth`` (B, 1, H, W) front-surface z-depth, ``mask_logits`` (B, 1, H, W) and ``points``
    (B, 2 * num_points, 3): front and back points of the ``num_points`` pixels most likely on the object,
    in the camera frame.
    """

    problem = "single_view"
    inputs = ("image", "K")

    def __init__(self, num_points: int = 512, widths: tuple[int, ...] = (32, 64, 128, 256), init_depth: float = 3.2):
        super().__init__()
        if num_points <= 0:
            raise ValueError(f"num_points must be positive, got {num_points}")
        self.num_points = num_points
        self.init_depth = float(init_depth)
        self.down = nn.ModuleList()
        c = 3
        for w in widths:
            self.down.append(nn.Sequential(conv_norm_act(c, w, stride=2), conv_norm_act(w, w)))
            c = w
        self.up = nn.ModuleList()
        for skip in reversed((3,) + tuple(widths[:-1])):
            self.up.append(
                nn.Sequential(conv_norm_act(c + skip, max(skip, 32)), conv_norm_act(max(skip, 32), max(skip, 32)))
            )
            c = max(skip, 32)
        self.head = nn.Conv2d(c, 3, 1)
        self.stride = 2 ** len(widths)

    def forward(self, image: torch.Tensor, K: torch.Tensor) -> dict[str, torch.Tensor]:
        B, _, H, W = image.shape
        if H % self.stride or W % self.stride:
            raise ValueError(f"DepthCNN needs image sides divisible by {self.stride}, got {H}x{W}")
        skips, x = [], image
        for block in self.down:
            skips.append(x)
            x = block(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        # geometry in fp32 under mixed precision: a half-precision depth near 3 is off by up to 2 mm (fp16) or 8 mm
        # (bf16), and the points must match the fp32 ground truth's dtype
        raw_depth, raw_thickness, mask_logits = self.head(x).float().split(1, dim=1)
        depth = self.init_depth + raw_depth
        thickness = F.softplus(raw_thickness)

        k = min(self.num_points, H * W)
        idx = mask_logits.flatten(1).topk(k, dim=1).indices  # (B, k)
        with torch.autocast(image.device.type, enabled=False):
            front = unproject(depth, K.float())  # (B, H*W, 3)
            back = unproject(depth + thickness, K.float())
        gather = idx.unsqueeze(-1).expand(-1, -1, 3)
        points = torch.cat([front.gather(1, gather), back.gather(1, gather)], dim=1)
        return {"points": points, "depth": depth, "mask_logits": mask_logits}
