"""Shared model building blocks: shapes, the one norm factory, and the rule that model files share code only
through :mod:`recon.models.blocks`."""

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

import recon.models
from recon.models.blocks import NORMS, CostHead, Hourglass, ImageEncoder, conv_norm_act, norm_layer

MODELS_DIR = Path(recon.models.__file__).parent


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_model_files_import_shared_pieces_only_from_blocks(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    siblings = {m for m in imported if m.startswith("recon.models") and not m.startswith("recon.models.blocks")}
    assert not siblings, f"{path.name} imports {siblings}: move what it shares into recon.models.blocks"


@pytest.mark.parametrize("dims", [2, 3])
def test_norm_layer_kinds(dims):
    batch = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
    assert type(norm_layer("batch", 12, dims)) is batch
    group = norm_layer("group", 12, dims)
    assert isinstance(group, nn.GroupNorm) and group.num_groups == 4  # largest of 8, 4, 2, 1 dividing 12
    assert isinstance(norm_layer("none", 12, dims), nn.Identity)
    with pytest.raises(ValueError, match="model.norm must be one of"):
        norm_layer("layer", 12, dims)
    assert NORMS == ("batch", "group", "none")


def test_conv_norm_act_shapes_and_bias():
    unit = conv_norm_act(3, 8, "batch", stride=2)
    assert unit(torch.rand(2, 3, 9, 10)).shape == (2, 8, 5, 5)
    assert unit[0].bias is None and isinstance(unit[-1], nn.ReLU)
    plain = conv_norm_act(4, 4, "none", dims=3, dilation=2, relu=False)
    assert plain(torch.rand(1, 4, 5, 6, 7)).shape == (1, 4, 5, 6, 7)
    assert plain[0].bias is not None and len(plain) == 2


def test_image_encoder_shape():
    encoder = ImageEncoder((8, 16), feature_dim=32, pool=2, norm="group")
    assert encoder(torch.rand(3, 3, 32, 48)).shape == (3, 32)


@pytest.mark.parametrize("size", [(8, 12, 16), (5, 7, 9)])
def test_hourglass_keeps_the_volume_and_head_moves_candidates_to_channels(size):
    volume = torch.rand(2, 4, *size)
    out = Hourglass(4, "batch")(volume)
    assert out.shape == volume.shape
    h, w, D = size
    assert CostHead(4, "none")(out).shape == (2, D, h, w)
