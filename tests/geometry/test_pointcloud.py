"""Exact nearest neighbours / Chamfer against an independent float64 scipy brute force."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from recon.geometry.pointcloud import chamfer_distances, chamfer_loss, nearest_neighbors

BACKENDS = ["torch", "kdtree"]


def reference(pred, gt, threshold=None):
    """Brute-force float64 Chamfer / F-score per sample, written from the paper definitions."""
    keys = ("accuracy", "completeness", "accuracy_sq", "completeness_sq", "precision", "recall", "fscore")
    out = {k: [] for k in keys}
    for p, g in zip(pred.double().numpy(), gt.double().numpy()):
        d = cdist(p, g)  # (N, M) Euclidean
        acc, comp = d.min(1), d.min(0)
        out["accuracy"].append(acc.mean())
        out["completeness"].append(comp.mean())
        out["accuracy_sq"].append((acc**2).mean())
        out["completeness_sq"].append((comp**2).mean())
        if threshold is not None:
            P, R = (acc < threshold).mean(), (comp < threshold).mean()
            out["precision"].append(P)
            out["recall"].append(R)
            out["fscore"].append(2 * P * R / (P + R) if P + R > 0 else 0.0)
    out = {k: np.array(v) for k, v in out.items() if v}
    out["chamfer_l1"] = 0.5 * (out["accuracy"] + out["completeness"])
    out["chamfer_l2"] = 0.5 * (out["accuracy_sq"] + out["completeness_sq"])
    return out


def clouds(B, N, M, seed=0, dtype=torch.float32, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, 3, generator=g, dtype=dtype) + offset
    return x, torch.randn(B, M, 3, generator=g, dtype=dtype) + offset


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chunk_elements", [7, 2**24])
@pytest.mark.parametrize("B,N,M", [(3, 50, 80), (2, 97, 13), (1, 1, 5), (4, 6, 1)])
def test_nearest_neighbors_matches_brute_force(backend, chunk_elements, B, N, M):
    x, y = clouds(B, N, M, seed=N + M, offset=10.0)  # off-origin: no cancellation allowed
    sq, idx = nearest_neighbors(x, y, backend=backend, chunk_elements=chunk_elements)
    assert sq.shape == idx.shape == (B, N) and idx.dtype == torch.long and sq.dtype == torch.float32
    for b in range(B):
        d = cdist(x[b].double().numpy(), y[b].double().numpy(), "sqeuclidean")
        np.testing.assert_array_equal(idx[b].numpy(), d.argmin(1))  # random clouds: no ties
        np.testing.assert_allclose(sq[b].numpy(), d.min(1), rtol=1e-5)


def test_torch_chunks_bounded_and_backends_agree():
    x, y = clouds(5, 300, 200, seed=1)
    sq_a, idx_a = nearest_neighbors(x, y, backend="torch", chunk_elements=1000)  # 5 rows per chunk
    sq_b, idx_b = nearest_neighbors(x, y, backend="kdtree")
    sq_c, idx_c = nearest_neighbors(x, y)  # auto
    assert torch.equal(idx_a, idx_b) and torch.equal(idx_b, idx_c)
    assert torch.equal(sq_a, sq_b)  # same gathered pair, same arithmetic


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chamfer_distances_match_reference(backend, dtype):
    pred, gt = clouds(3, 120, 70, seed=2, dtype=dtype)
    ref = reference(pred, gt, threshold=0.3)
    out = chamfer_distances(pred, gt, threshold=0.3, backend=backend, chunk_elements=7)
    assert set(out) == set(ref)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    for k, v in ref.items():
        assert out[k].shape == (3,) and out[k].dtype == dtype
        np.testing.assert_allclose(out[k].numpy(), v, rtol=rtol, atol=1e-12, err_msg=k)


def test_hand_derived():
    # pred: (0,0,0), (2,0,0); gt: (0,0,1).
    # pred->gt distances: 1, sqrt(5); gt->pred: 1.
    pred = torch.tensor([[[0.0, 0, 0], [2, 0, 0]]], dtype=torch.float64)
    gt = torch.tensor([[[0.0, 0, 1]]], dtype=torch.float64)
    out = chamfer_distances(pred, gt, threshold=1.5)
    s5 = 5**0.5
    expected = {
        "accuracy": (1 + s5) / 2,
        "completeness": 1.0,
        "accuracy_sq": 3.0,
        "completeness_sq": 1.0,
        "chamfer_l1": 0.5 * ((1 + s5) / 2 + 1),
        "chamfer_l2": 2.0,
        "precision": 0.5,  # 1 < 1.5, sqrt(5) > 1.5
        "recall": 1.0,
        "fscore": 2 * 0.5 / 1.5,
    }
    for k, v in expected.items():
        assert out[k].item() == pytest.approx(v, abs=1e-14), k
    sq, idx = nearest_neighbors(gt, pred)
    assert idx.tolist() == [[0]] and sq.tolist() == [[1.0]]  # 1 < sqrt(5)


def test_fscore_zero_when_nothing_within_threshold():
    pred = torch.zeros(2, 4, 3)
    gt = torch.ones(2, 5, 3)
    out = chamfer_distances(pred, gt, threshold=0.1)
    assert torch.equal(out["fscore"], torch.zeros(2)) and not out["fscore"].isnan().any()
    assert torch.equal(out["precision"], torch.zeros(2)) and torch.equal(out["recall"], torch.zeros(2))


def test_identical_clouds_zero_and_finite_gradient():
    pred = torch.randn(2, 10, 3, dtype=torch.float64, requires_grad=True)
    gt = pred.detach().clone().requires_grad_(True)
    loss = chamfer_loss(pred, gt, kind="l1")
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(pred.grad).all() and torch.isfinite(gt.grad).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_gradcheck_chamfer_loss(backend, kind):
    # General position, well separated points: the argmin is stable under gradcheck's eps.
    pred, gt = clouds(2, 7, 9, seed=3, dtype=torch.float64)
    pred.requires_grad_(True)
    gt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, g: chamfer_loss(p, g, kind=kind, backend=backend), (pred, gt))


def test_loss_gradient_equals_brute_force_autograd():
    pred, gt = clouds(2, 30, 40, seed=4, dtype=torch.float64)
    pred.requires_grad_(True)
    gt.requires_grad_(True)
    chamfer_loss(pred, gt, kind="l2", chunk_elements=7).backward()
    p2, g2 = pred.detach().clone().requires_grad_(True), gt.detach().clone().requires_grad_(True)
    d = ((p2[:, :, None] - g2[:, None]) ** 2).sum(-1)
    (0.5 * (d.min(2).values.mean(-1) + d.min(1).values.mean(-1))).mean().backward()
    torch.testing.assert_close(pred.grad, p2.grad)
    torch.testing.assert_close(gt.grad, g2.grad)


def test_loss_kinds():
    pred, gt = clouds(3, 20, 25, seed=5)
    out = chamfer_distances(pred, gt)
    assert chamfer_loss(pred, gt, kind="l1").item() == pytest.approx(out["chamfer_l1"].mean().item())
    assert chamfer_loss(pred, gt, kind="l2").item() == pytest.approx(out["chamfer_l2"].mean().item())
    with pytest.raises(ValueError, match="kind"):
        chamfer_loss(pred, gt, kind="l3")


@pytest.mark.parametrize(
    "x,y,match",
    [
        (torch.zeros(5, 3), torch.zeros(1, 5, 3), r"x must be \(B, N, 3\), got \(5, 3\)"),
        (torch.zeros(1, 5, 3), torch.zeros(1, 5, 2), r"y must be \(B, N, 3\), got \(1, 5, 2\)"),
        (torch.zeros(2, 5, 3), torch.zeros(3, 5, 3), "same batch size"),
        (torch.zeros(1, 0, 3), torch.zeros(1, 5, 3), "x must be a non-empty"),
        (torch.zeros(1, 5, 3), torch.zeros(1, 0, 3), "y must be a non-empty"),
        (torch.zeros(0, 5, 3), torch.zeros(0, 5, 3), "x must be a non-empty"),
        (torch.tensor([[[0.0, float("nan"), 0]]]), torch.zeros(1, 5, 3), "x contains NaN or Inf"),
        (torch.zeros(1, 5, 3), torch.tensor([[[0.0, float("inf"), 0]]]), "y contains NaN or Inf"),
        (torch.zeros(1, 5, 3, dtype=torch.long), torch.zeros(1, 5, 3), "floating-point"),
        (torch.zeros(1, 5, 3), torch.zeros(1, 5, 3, dtype=torch.float64), "dtype"),
    ],
)
def test_invalid_inputs(x, y, match):
    with pytest.raises(ValueError, match=match):
        nearest_neighbors(x, y)
    named = match.replace("x and y", "pred and gt").replace("x ", "pred ").replace("y ", "gt ")
    with pytest.raises(ValueError, match=named):
        chamfer_distances(x, y)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        nearest_neighbors(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), backend="faiss")


@pytest.mark.slow
def test_large_clouds_match_kdtree_reference():
    from scipy.spatial import cKDTree

    x, y = clouds(1, 20000, 30000, seed=6)
    for backend in BACKENDS:
        sq, _ = nearest_neighbors(x, y, backend=backend)
        ref, _ = cKDTree(y[0].double().numpy()).query(x[0].double().numpy())
        np.testing.assert_allclose(sq[0].numpy(), ref**2, rtol=1e-5)
