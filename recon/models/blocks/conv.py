"""Normalisation layers and the convolution + normalisation + ReLU unit, for 2D images and 3D volumes."""

from torch import nn

NORMS = ("batch", "group", "none")


def norm_layer(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """Normalisation of ``channels``-channel maps, (B, C, H, W) for ``dims`` 2 or (B, C, D, H, W) for 3.

    ``batch``, ``group`` (8 groups or fewer; per-sample statistics, so results do not depend on how a batch is split
    over DDP processes — SyncBatchNorm needs GPUs) or ``none``.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    if kind == "group":
        return nn.GroupNorm(next(g for g in (8, 4, 2, 1) if channels % g == 0), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"model.norm must be one of {NORMS}, got {kind!r}")


def conv_norm_act(
    c_in: int,
    c_out: int,
    norm: str = "batch",
    dims: int = 2,
    stride: int = 1,
    dilation: int = 1,
    relu: bool = True,
) -> nn.Sequential:
    """3x3 (or 3x3x3) convolution, ``norm`` and ReLU (``relu=False``: none): (B, c_in, *S) -> (B, c_out, *S / stride).

    Padding equals the dilation, so stride 1 keeps the size. The convolution has a bias only without normalisation.
    """
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    layers = [
        conv(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=norm == "none"),
        norm_layer(norm, c_out, dims),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
