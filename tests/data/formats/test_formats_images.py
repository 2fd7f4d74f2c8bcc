"""Image reading: every mode to (3, H, W) float RGB, exact single-channel integers, errors naming the file."""

import re

import numpy as np
import pytest
from PIL import Image

from recon.data.formats.images import check_same_size, read_rgb, read_single_channel

RGB = np.random.default_rng(1).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)


def test_rgb_png_is_scaled_to_unit_range(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    image = read_rgb(tmp_path / "rgb.png")
    assert image.shape == (3, 4, 5) and image.dtype.is_floating_point
    np.testing.assert_array_equal(image.numpy(), RGB.transpose(2, 0, 1) / np.float32(255))


def test_rgba_drops_alpha_and_gray_is_replicated(tmp_path):
    alpha = np.full((4, 5, 1), 7, np.uint8)
    Image.fromarray(np.concatenate([RGB, alpha], axis=2)).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "rgba.png").numpy(), RGB.transpose(2, 0, 1) / np.float32(255))
    gray = RGB[..., 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.stack([gray, gray], axis=2), mode="LA").save(tmp_path / "gray_alpha.png")
    for name in ("gray.png", "gray_alpha.png"):
        image = read_rgb(tmp_path / name).numpy()
        assert image.shape == (3, 4, 5)
        for channel in image:
            np.testing.assert_array_equal(channel, gray / np.float32(255))


def test_sixteen_bit_gray_and_palette(tmp_path):
    values = np.array([[0, 65535], [32768, 1]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    np.testing.assert_allclose(read_rgb(tmp_path / "g16.png").numpy(), np.stack([values / 65535.0] * 3), atol=1e-7)
    Image.fromarray(RGB).convert("P").save(tmp_path / "palette.png")
    assert read_rgb(tmp_path / "palette.png").shape == (3, 4, 5)


def test_single_channel_reads_stored_integers_exactly(tmp_path):
    values = np.array([[0, 1, 256], [65535, 300, 12345]], np.uint16)
    Image.fromarray(values).save(tmp_path / "d16.png")
    out = read_single_channel(tmp_path / "d16.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, values)
    Image.fromarray(values.astype(np.uint8)).save(tmp_path / "d8.png")
    assert read_single_channel(tmp_path / "d8.png").dtype == np.uint8
    Image.fromarray(RGB).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "rgb.png")) + ".*single-channel"):
        read_single_channel(tmp_path / "rgb.png")


def test_truncated_corrupt_and_missing_images(tmp_path):
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.png").write_bytes(b"this is not an image")
    for name in ("truncated.png", "garbage.png"):
        for reader in (read_rgb, read_single_channel):
            with pytest.raises(ValueError, match="cannot decode image " + re.escape(str(tmp_path / name))):
                reader(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.png"))):
        read_rgb(tmp_path / "missing.png")


def test_size_check_names_both_files(tmp_path):
    check_same_size((3, 4, 5), tmp_path / "a.png", (1, 4, 5), tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"a\.png is 5x4 .* but .*b\.png is 6x4"):
        check_same_size((3, 4, 5), tmp_path / "a.png", (4, 6), tmp_path / "b.png")
