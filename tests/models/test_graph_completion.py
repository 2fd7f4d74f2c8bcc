"""Graph layers against brute-force loops, and the graph completion model: measured points kept, translation with
the measurement, image features where the nodes project, every modality subset, bad settings named."""

import itertools

import pytest
import torch

from recon.models.blocks.graph import EdgeConv, knn_graph
from recon.models.graph_completion import GraphCompletion

SMALL = dict(num_nodes=32, k=4, widths=(8, 8), code_dim=16, image_channels=8, num_coarse=8, fold=2)


def batch(B: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[40.0, 0.0, 15.5], [0.0, 40.0, 15.5], [0.0, 0.0, 1.0]]).expand(B, 3, 3)
    return {
        "image": torch.rand(B, 3, 32, 32, generator=g),
        "has_image": torch.ones(B, dtype=torch.bool),
        "K": K.clone(),
        "partial_points": torch.randn(B, 48, 3, generator=g) * 0.3 + torch.tensor([0.1, 0.0, 3.0]),
        "has_depth": torch.ones(B, dtype=torch.bool),
    }


def test_knn_graph_and_edge_conv_match_loops():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 3)
    index = knn_graph(x, 3)
    for b, i in itertools.product(range(2), range(10)):
        distances = [(float((x[b, i] - x[b, j]).norm()), j) for j in range(10) if j != i]
        assert set(index[b, i].tolist()) == {j for _, j in sorted(distances)[:3]}
    layer = EdgeConv(3, 5, k=3)
    out = layer(x)
    for b, i in itertools.product(range(2), range(10)):
        edges = torch.stack([torch.cat([x[b, i], x[b, j] - x[b, i]]) for j in index[b, i]])
        torch.testing.assert_close(out[b, i], layer.rest(layer.first(edges)).amax(0))
    with pytest.raises(ValueError, match="needs more than 10 points"):
        knn_graph(x, 10)


def test_measured_nodes_are_kept_and_the_completion_moves_with_them():
    torch.manual_seed(0)
    model = GraphCompletion(modalities=("depth",), **SMALL).eval()
    data = batch()
    inputs = {k: data[k] for k in model.inputs}
    with torch.no_grad():
        out = model(**inputs)
        shift = torch.tensor([0.3, -0.2, 0.5])
        moved = model(**{**inputs, "partial_points": inputs["partial_points"] + shift})
    assert out["points"].shape == (2, 48 + 8 * 4, 3) and out["coarse"].shape == (2, 8, 3)
    torch.testing.assert_close(out["points"][:, :48], data["partial_points"])
    torch.testing.assert_close(moved["points"], out["points"] + shift, atol=1e-5, rtol=1e-5)


def test_image_features_are_sampled_where_the_nodes_project():
    model = GraphCompletion(modalities=("image", "depth"), **SMALL).eval()
    data = batch(1)
    with torch.no_grad():
        features = model.image_net(data["image"] * 2 - 1)[0]  # (C, 8, 8): 1/4 resolution
        # a node on the optical axis of pixel centre (15.5, 15.5): the feature map's centre, between cells 3 and 4
        node = torch.tensor([[[0.0, 0.0, 3.0]]])
        sampled = model.image_features(node, data)[0, 0]
    torch.testing.assert_close(sampled, features[:, 3:5, 3:5].mean((1, 2)), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        off = model.image_features(torch.tensor([[[10.0, 0.0, 3.0]]]), data)  # projects far outside the image
        hidden = model.image_features(node, {**data, "has_image": torch.tensor([False])})
    assert off.abs().max() == 0 and hidden.abs().max() == 0


@pytest.mark.parametrize("modalities", [("image",), ("depth",), ("image", "depth")])
def test_every_subset_runs_and_every_weight_learns(modalities):
    torch.manual_seed(0)
    model = GraphCompletion(modalities=modalities, **SMALL)
    data = batch()
    data["has_depth"] = torch.tensor([True, False])  # the second item falls back to the sphere of nodes
    out = model(**{k: data[k] for k in model.inputs})
    assert torch.isfinite(out["points"]).all()
    out["points"].square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modalities": ()}, "model.modalities"),
        ({"k": 32}, "model.k"),
        ({"widths": ()}, "model.widths"),
        ({"fold": 0}, "fold"),
        ({"norm": "layer"}, "model.norm"),
    ],
)
def test_bad_settings_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GraphCompletion(**{**SMALL, **kwargs})
    with pytest.raises(ValueError, match="num_nodes needs 32"):
        GraphCompletion(**SMALL)(**{**batch(), "partial_points": torch.zeros(2, 16, 3)})
