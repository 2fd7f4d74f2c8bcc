"""PFM: exact round trips, byte-level layout against a hand-built file, and every corrupt-header case."""

import re

import numpy as np
import pytest

from recon.data.formats.pfm import read_pfm, write_pfm


def sample_image(shape):
    values = np.random.default_rng(0).normal(size=shape).astype(np.float32) * 100
    specials = np.array([np.inf, -np.inf, np.nan, 0.0], np.float32)
    values.flat[: min(values.size, 4)] = specials[: values.size]
    return values


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (1, 1), (4, 2, 1)])
@pytest.mark.parametrize("little_endian", [True, False])
def test_write_read_round_trip_is_exact(tmp_path, shape, little_endian):
    image = sample_image(shape)
    path = tmp_path / "x.pfm"
    write_pfm(path, image, little_endian=little_endian)
    back = read_pfm(path)
    expected = image[..., 0] if shape[-1] == 1 and len(shape) == 3 else image
    assert back.dtype == np.float32 and back.shape == expected.shape
    np.testing.assert_array_equal(back, expected)  # NaN == NaN here; inf kept
    assert back.flags.writeable


@pytest.mark.parametrize("channels, magic", [(1, b"Pf"), (3, b"PF")])
@pytest.mark.parametrize("endian, scale", [("<", b"-1.0"), (">", b"1.0")])
def test_reads_hand_built_file_bottom_row_first(tmp_path, channels, magic, endian, scale):
    H, W = 3, 4
    image = np.arange(H * W * channels, dtype=np.float32).reshape(H, W, channels) - 5.5
    # Independent encoding: rows written from the bottom of the image up, channels interleaved.
    body = b"".join(image[row].astype(endian + "f4").tobytes() for row in reversed(range(H)))
    path = tmp_path / "hand.pfm"
    path.write_bytes(magic + b"\n4 3\n" + scale + b"\n" + body)
    back = read_pfm(path)
    np.testing.assert_array_equal(back, image[..., 0] if channels == 1 else image)


def test_writer_header_and_byte_order(tmp_path):
    image = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    write_pfm(tmp_path / "le.pfm", image)
    write_pfm(tmp_path / "be.pfm", image, little_endian=False)
    le, be = (tmp_path / "le.pfm").read_bytes(), (tmp_path / "be.pfm").read_bytes()
    assert le.startswith(b"Pf\n2 3\n-1.0\n") and be.startswith(b"Pf\n2 3\n1.0\n")
    assert np.frombuffer(le[-24:], "<f4").tolist() == [5, 6, 3, 4, 1, 2]
    assert np.frombuffer(be[-24:], ">f4").tolist() == [5, 6, 3, 4, 1, 2]


def test_scale_magnitude_is_not_applied_and_crlf_header_is_read(tmp_path):
    path = tmp_path / "s.pfm"
    path.write_bytes(b"Pf\r\n2 1\r\n-4.5\r\n" + np.array([1.5, 2.5], "<f4").tobytes())
    np.testing.assert_array_equal(read_pfm(path), [[1.5, 2.5]])


CORRUPT_HEADERS = {
    "bad magic": (b"P5\n2 2\n-1\n", "not a PFM file"),
    "lower-case magic": (b"pf\n2 2\n-1\n", "not a PFM file"),
    "one dimension": (b"Pf\n2\n-1\n", "dimensions"),
    "three dimensions": (b"Pf\n2 2 2\n-1\n", "dimensions"),
    "non-integer dimensions": (b"Pf\n2.5 2\n-1\n", "dimensions"),
    "zero width": (b"Pf\n0 2\n-1\n", "non-positive size"),
    "negative height": (b"Pf\n2 -2\n-1\n", "non-positive size"),
    "zero scale": (b"Pf\n2 2\n0.0\n", "scale must be finite and non-zero"),
    "nan scale": (b"Pf\n2 2\nnan\n", "scale must be finite and non-zero"),
    "text scale": (b"Pf\n2 2\nbig\n", "is not a number"),
    "empty file": (b"", "magic line missing"),
    "no newline after scale": (b"Pf\n2 2\n-1", "scale line missing"),
    "binary instead of header": (b"Pf\n" + bytes(range(11, 256)) * 2, "dimensions line missing"),
}


@pytest.mark.parametrize("name", list(CORRUPT_HEADERS))
def test_corrupt_header_raises_value_error_naming_the_file(tmp_path, name):
    header, message = CORRUPT_HEADERS[name]
    path = tmp_path / f"corrupt {name}.pfm"
    path.write_bytes(header + np.zeros(4, "<f4").tobytes())
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + re.escape(message)):
        read_pfm(path)


@pytest.mark.parametrize("magic, missing_bytes", [(b"Pf", 1), (b"Pf", 16), (b"PF", 4)])
def test_truncated_data_raises(tmp_path, magic, missing_bytes):
    channels = 3 if magic == b"PF" else 1
    path = tmp_path / "short.pfm"
    path.write_bytes(magic + b"\n3 2\n-1\n" + bytes(4 * 6 * channels - missing_bytes))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*truncated PFM data.*needs " + str(24 * channels)):
        read_pfm(path)


def test_missing_file_and_unwritable_shapes(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.pfm"))):
        read_pfm(tmp_path / "nope.pfm")
    for shape in [(2, 2, 2), (2,), (2, 2, 4), (0, 3)]:
        with pytest.raises(ValueError, match="bad.pfm"):
            write_pfm(tmp_path / "bad.pfm", np.zeros(shape, np.float32))
