"""Best-of-K Chamfer and sample diversity against a float64 brute force, accumulated over batches."""

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from recon.metrics.samples import BestOfKChamfer, SampleDiversity


def chamfer_l1(a, b):
    d = cdist(a, b)
    return 0.5 * (d.min(1).mean() + d.min(0).mean())


def batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (0.1 * torch.randn(b, 4, 30 + 5 * i, 3, generator=g), 0.1 * torch.randn(b, 50, 3, generator=g))
        for i, b in enumerate([2, 3, 1])
    ]


def test_best_of_k_is_the_mean_of_per_image_minima():
    metric = BestOfKChamfer()
    expected = []
    for samples, gt in batches():
        metric.update(samples, gt)
        for s, g in zip(samples.double().numpy(), gt.double().numpy()):
            expected.append(min(chamfer_l1(x, g) for x in s))
    assert float(metric.compute()) == pytest.approx(np.mean(expected), rel=1e-5)


def test_diversity_is_the_mean_pairwise_chamfer():
    metric = SampleDiversity()
    expected = []
    for samples, _ in batches(1):
        metric.update(samples)
        for s in samples.double().numpy():
            expected.append(np.mean([chamfer_l1(a, b) for a, b in itertools.combinations(s, 2)]))
    assert float(metric.compute()) == pytest.approx(np.mean(expected), rel=1e-5)


def test_identical_samples_have_zero_diversity_and_best_of_k_equals_their_chamfer():
    g = torch.Generator().manual_seed(2)
    one, gt = torch.randn(3, 1, 40, 3, generator=g), torch.randn(3, 60, 3, generator=g)
    samples = one.expand(-1, 5, -1, -1).contiguous()
    div, best = SampleDiversity(), BestOfKChamfer()
    div.update(samples)
    best.update(samples, gt)
    assert float(div.compute()) == 0.0
    expected = np.mean([chamfer_l1(s[0], t) for s, t in zip(one.double().numpy(), gt.double().numpy())])
    assert float(best.compute()) == pytest.approx(expected, rel=1e-5)


def test_shape_errors():
    with pytest.raises(ValueError, match="at least 2"):
        SampleDiversity().update(torch.zeros(2, 1, 5, 3))
    with pytest.raises(ValueError, match=r"\(B, K, N, 3\)"):
        BestOfKChamfer().update(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3))


def test_states_are_sums_for_ddp():
    for metric in (BestOfKChamfer(), SampleDiversity()):
        assert metric._reductions["total"] is not None and metric._reductions["count"] is not None
        assert {metric._reductions[k].__name__ for k in ("total", "count")} <= {"dim_zero_sum", "sum"}
