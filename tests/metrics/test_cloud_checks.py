"""Reference-free fused-cloud checks against hand-made cases: box fraction, silhouettes, silhouette agreement."""

import numpy as np
import torch

from recon.metrics.cloud_checks import dark_background_silhouettes, in_box_fraction, silhouette_agreement


def test_in_box_fraction_matches_numpy():
    torch.manual_seed(0)
    points = torch.rand(500, 3) * 2 - 1
    box = torch.tensor([[-0.5, -0.2, 0.0], [0.5, 0.9, 0.7]])
    expected = np.mean(np.all((points.numpy() >= box[0].numpy()) & (points.numpy() <= box[1].numpy()), axis=1))
    assert in_box_fraction(points, box) == float(np.float32(expected))
    assert np.isnan(in_box_fraction(torch.zeros(0, 3), box))


def test_silhouettes_close_dark_shadows_and_grow_by_dilation_minus_erosion():
    image = torch.zeros(1, 3, 40, 40)
    image[:, :, 10:25, 10:25] = 0.8
    image[:, :, 16:19, 16:19] = 0.05  # a dark shadow on the object
    mask = dark_background_silhouettes(image, threshold=0.19, dilate=3, erode=1)[0]
    assert mask[16:19, 16:19].all()  # closed
    row = mask[17].nonzero().flatten()
    assert (int(row.min()), int(row.max())) == (8, 26)  # the 10..24 square grown by 3 - 1 = 2 px on each side
    assert not mask[:5].any() and not mask[:, 35:].any()


def test_silhouette_agreement_counts_projections_on_the_mask():
    K = torch.tensor([[[10.0, 0.0, 4.5], [0.0, 10.0, 4.5], [0.0, 0.0, 1.0]]])
    T_cw = torch.eye(4)[None]
    masks = torch.zeros(1, 10, 10, dtype=torch.bool)
    masks[0, :, :5] = True  # the left half of the image
    # u = 10 x / z + 4.5: x = -0.2 -> u 2.5 -> 2 (left half); x = 0.2 -> u 6.5 -> 6 (right); x = 2 -> outside
    points = torch.tensor([[-0.2, 0.0, 1.0], [-0.3, 0.1, 1.0], [0.2, 0.0, 1.0], [2.0, 0.0, 1.0], [-0.2, 0.0, -1.0]])
    # seen: the first three (the 4th leaves the image, the 5th is behind the camera); on the mask: two of them
    assert silhouette_agreement(points, K, T_cw, masks) == float(np.float32(2 / 3))
    two_views = silhouette_agreement(points, K.expand(2, 3, 3), T_cw.expand(2, 4, 4), torch.cat([masks, ~masks]))
    assert two_views == 0.5
    assert np.isnan(silhouette_agreement(points[3:], K, T_cw, masks))
