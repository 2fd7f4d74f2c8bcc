"""The stereo item contract: masks from raw disparities, and the checker other stereo data can reuse."""

import math

import numpy as np
import pytest
import torch

from recon.data.formats.base import STEREO_KEYS, check_stereo_item, make_stereo_item


def item_from(disparity, nonoccluded=None):
    images = torch.rand(3, 2, 3)
    item = make_stereo_item(images, images.clone(), disparity, nonoccluded, 10.0, math.nan)
    item["index"] = torch.tensor(0)
    return item


def test_invalid_values_become_zero_and_masks_nest():
    raw = np.array([[1.0, np.inf, np.nan], [-2.0, 0.0, 3.5]], np.float32)
    nonocc = np.array([[False, True, True], [True, True, True]])
    item = item_from(raw, nonocc)
    check_stereo_item(item)
    assert set(item) == set(STEREO_KEYS)
    np.testing.assert_array_equal(item["valid"][0].numpy(), [[True, False, False], [False, False, True]])
    np.testing.assert_array_equal(item["disparity"][0].numpy(), [[1.0, 0, 0], [0, 0, 3.5]])
    np.testing.assert_array_equal(item["nonoccluded"][0].numpy(), [[False, False, False], [False, False, True]])
    assert torch.equal(item_from(raw)["nonoccluded"], item_from(raw)["valid"])
    assert not item_from(None)["valid"].any()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda item: item.pop("focal"), "keys"),
        (lambda item: item.update(valid=item["valid"].float()), "'valid'"),
        (lambda item: item.update(left=item["left"][:1]), "'left'"),
        (lambda item: item.update(right=item["right"] * 2 + 1), "outside"),
        (lambda item: item["disparity"].__setitem__((0, 0, 1), 5.0), "0 elsewhere"),
        (lambda item: item["nonoccluded"].fill_(True), "subset"),
    ],
)
def test_checker_rejects_broken_items(corrupt, message):
    item = item_from(np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 1.0]], np.float32))
    corrupt(item)
    with pytest.raises(ValueError, match=message):
        check_stereo_item(item)
