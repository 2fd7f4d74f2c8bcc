"""Solid (3D) textures and backgrounds for synthetic scenes.

Textures are evaluated at hit points in object-local coordinates (the object's unit bounding
sphere), so no UVs are needed. "natural" projects scikit-image's bundled photographs
triplanarly (blend of the xy, yz, xz projections weighted by the local normal).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

# colour photographs, and grey material photographs that get a random tint
_COLOUR_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
_GREY_IMAGES = ("brick", "grass", "gravel")


@functools.cache
def natural_images(size: int = 128) -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs, float32 (h, w, 3) in [0, 1], longest side ``size``."""
    import skimage.data
    from skimage.transform import resize

    out = []
    for name in _COLOUR_IMAGES + _GREY_IMAGES:
        img = getattr(skimage.data, name)().astype(np.float32) / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        s = size / max(img.shape[:2])
        shape = (max(2, round(img.shape[0] * s)), max(2, round(img.shape[1] * s)), 3)
        out.append(resize(img, shape, anti_aliasing=True).astype(np.float32))
    return tuple(out)


def _is_grey(index: int) -> bool:
    return index >= len(_COLOUR_IMAGES)


def sample_bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around; x, y in pixels (any shape) -> (..., 3)."""
    h, w = img.shape[:2]
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.astype(np.int64) % w, y0.astype(np.int64) % h
    x1, y1 = (x0 + 1) % w, (y0 + 1) % h
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def random_colour(rng: np.random.Generator, sat=(0.25, 0.9), val=(0.45, 1.0)) -> np.ndarray:
    """A random RGB colour (3,) from uniform hue and the given saturation/value ranges."""
    h, s, v = rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return (v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)).astype(np.float32)


@dataclass
class Texture:
    """A solid texture: ``texture(p (N, 3), n (N, 3)) -> albedo (N, 3)`` in [0, 1].

    ``p`` are object-local points (inside the unit sphere) and ``n`` their local unit normals.
    """

    kind: str
    colours: np.ndarray  # (k, 3)
    params: dict = field(default_factory=dict)

    def __call__(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        c = self.colours
        if self.kind == "solid":
            return np.broadcast_to(c[0], p.shape).astype(np.float32)
        q = p @ self.params["rotation"].T + self.params["offset"]
        if self.kind == "checker":
            parity = np.floor(q * self.params["freq"]).astype(np.int64).sum(1) % 2
            return c[parity]
        if self.kind == "stripes":
            phase = (q[:, 0] * self.params["freq"]) % 1.0
            return c[(phase < self.params["duty"]).astype(np.int64)]
        if self.kind == "noise":
            k, ph = self.params["waves"], self.params["phases"]
            s = np.sin(q @ k.T + ph).sum(1) / np.sqrt(len(ph))  # ~N(0, 0.5)
            t = np.clip(0.5 + 0.7 * s, 0, 1) * (len(c) - 1)
            i = np.minimum(np.floor(t).astype(np.int64), len(c) - 2)
            f = (t - i)[:, None]
            return c[i] * (1 - f) + c[i + 1] * f
        if self.kind == "natural":
            img = natural_images()[self.params["image"]]
            px = self.params["pixels_per_unit"]
            w = np.abs(n) ** 4
            w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
            out = np.zeros_like(p, dtype=np.float32)
            for axis, (a, b) in enumerate(((1, 2), (0, 2), (0, 1))):
                out += w[:, axis : axis + 1] * sample_bilinear(img, q[:, a] * px, -q[:, b] * px)
            return out * c[0]  # tint (white for colour photographs)
        raise ValueError(f"unknown texture {self.kind!r}")


def texture_frame(R_local: np.ndarray, origin: np.ndarray, unit: float) -> np.ndarray:
    """(4, 4) similarity world -> texture coordinates: ``R_local^T (x - origin) / unit``."""
    A = np.eye(4)
    A[:3, :3] = R_local.T / unit
    A[:3, 3] = -A[:3, :3] @ origin
    return A


def sample_texture(kinds: tuple[str, ...], rng: np.random.Generator) -> Texture:
    """A random texture of a kind drawn uniformly from ``kinds``."""
    kind = kinds[rng.integers(len(kinds))]
    from .shapes import random_rotation

    params = {"rotation": random_rotation(rng), "offset": rng.uniform(-1, 1, 3)}
    if kind == "solid":
        return Texture(kind, random_colour(rng)[None])
    if kind in ("checker", "stripes"):
        a = random_colour(rng)
        b = random_colour(rng)
        if rng.random() < 0.4:  # light/dark version of one colour
            b = (a * rng.uniform(0.25, 0.55)).astype(np.float32)
        params["freq"] = rng.uniform(1.5, 4.0) if kind == "checker" else rng.uniform(2.0, 6.0)
        params["duty"] = rng.uniform(0.3, 0.7)
        return Texture(kind, np.stack([a, b]), params)
    if kind == "noise":
        m = 8
        params["waves"] = rng.normal(size=(m, 3)) * rng.uniform(2.0, 6.0)
        params["phases"] = rng.uniform(0, 2 * np.pi, m)
        cols = np.stack([random_colour(rng) for _ in range(int(rng.integers(2, 4)))])
        return Texture(kind, cols, params)
    if kind == "natural":
        i = int(rng.integers(len(natural_images())))
        params["image"] = i
        params["pixels_per_unit"] = rng.uniform(30, 90)  # at 128 px images: 1.4-4 tiles / diameter
        tint = random_colour(rng, sat=(0.2, 0.7), val=(0.8, 1.0)) if _is_grey(i) else np.ones(3, np.float32)
        return Texture(kind, tint[None], params)
    raise ValueError(f"unknown texture {kind!r}")


def sample_background(kinds: tuple[str, ...], rng: np.random.Generator, V: int, H: int, W: int) -> np.ndarray:
    """Backgrounds for V views of one scene, float32 (V, H, W, 3) in [0, 1].

    "solid": one colour; "gradient": a linear blend of two colours in a random direction;
    "natural": random crops (one per view) of a photograph, slightly dimmed.
    """
    kind = kinds[rng.integers(len(kinds))]
    if kind == "solid":
        c = random_colour(rng, sat=(0.0, 0.6), val=(0.15, 0.95))
        return np.broadcast_to(c, (V, H, W, 3)).astype(np.float32)
    if kind == "gradient":
        a = random_colour(rng, sat=(0.0, 0.7), val=(0.1, 0.95))
        b = random_colour(rng, sat=(0.0, 0.7), val=(0.1, 0.95))
        ang = rng.uniform(0, 2 * np.pi)
        y, x = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
        t = np.clip(0.5 + 0.5 * (np.cos(ang) * x + np.sin(ang) * y), 0, 1)[..., None]
        return np.broadcast_to(a * (1 - t) + b * t, (V, H, W, 3)).astype(np.float32)
    if kind == "natural":
        imgs = natural_images(256)
        img = imgs[rng.integers(len(imgs))]
        h, w = img.shape[:2]
        out = np.empty((V, H, W, 3), np.float32)
        dim = rng.uniform(0.6, 1.0)
        for k in range(V):
            s = rng.uniform(0.3, 0.9) * min(h / H, w / W)  # image pixels per output pixel
            y0 = rng.uniform(0, h - s * H)
            x0 = rng.uniform(0, w - s * W)
            yy, xx = np.meshgrid(y0 + s * np.arange(H), x0 + s * np.arange(W), indexing="ij")
            out[k] = sample_bilinear(img, xx, yy) * dim
        return out
    raise ValueError(f"unknown background {kind!r}")
