"""KL per latent dimension: mean over samples, accumulated over batches; summary scalars."""

import numpy as np
import pytest
import torch

from recon.metrics.latent import ACTIVE_THRESHOLD, KLPerDimension, KLSummary


def test_mean_over_samples_per_dimension_and_summary():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.rand(b, 4, generator=g) for b in (3, 5, 1)]
    chunks[0][:, 3] = chunks[1][:, 3] = chunks[2][:, 3] = 0.0  # a collapsed dimension
    metric = KLPerDimension(4)
    for c in chunks:
        metric.update(c)
    expected = torch.cat(chunks).double().numpy().mean(0)
    assert np.allclose(metric.compute().numpy(), expected, rtol=1e-6)
    summary = metric.summary()
    assert float(summary["kl_per_dim"]) == pytest.approx(expected.mean(), rel=1e-6)
    assert float(summary["kl"]) == pytest.approx(expected.sum(), rel=1e-6)
    assert float(summary["active_dims"]) == (expected > ACTIVE_THRESHOLD).sum() == 3


def test_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        KLPerDimension(4).update(torch.zeros(2, 3))
    with pytest.raises(ValueError):
        KLPerDimension(0)


def test_kl_summary_computes_the_summary():
    kl = torch.rand(6, 4, generator=torch.Generator().manual_seed(1))
    per_dim, summary = KLPerDimension(4), KLSummary(4)
    per_dim.update(kl), summary.update(kl)
    assert summary.compute() == per_dim.summary()
