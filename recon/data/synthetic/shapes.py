"""Random closed triangle meshes for synthetic scenes, in object-local coordinates (z up).

Families (all return a list of closed parts, see :func:`sample_shape`):
- "primitive": one box, ellipsoid, cylinder, cone, frustum, capsule, torus, superellipsoid,
  lathe (vase-like) or platonic solid, with random aspect ratios.
- "composite": 2-6 primitives assembled (snowman, table, chair, lamp, mushroom, dumbbell or a
  random union). Parts overlap; surface sampling drops points inside other parts.
- "deformed": a finely tessellated primitive bent, twisted, tapered and displaced along its
  normals by smooth random noise.
- "mesh": a mesh file from ``mesh_dir``, normalised to the unit bounding sphere, y-up files
  turned z-up. Loaded once per process.

Normals: :func:`corner_normals` gives one normal per triangle corner, smoothed over faces that
meet at less than ``CREASE_DEG`` so boxes stay flat and spheres look round.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CREASE_DEG = 40.0


@dataclass
class TriMesh:
    """A triangle mesh: vertices (N, 3) float64, faces (F, 3) int64 (counter-clockwise = outward)."""

    vertices: np.ndarray
    faces: np.ndarray

    def transformed(self, A: np.ndarray, t: np.ndarray | None = None) -> TriMesh:
        """Vertices ``A @ v + t`` (A (3, 3)); faces flipped when ``det(A) < 0``."""
        v = self.vertices @ np.asarray(A, np.float64).T
        if t is not None:
            v = v + np.asarray(t, np.float64)
        f = self.faces[:, ::-1].copy() if np.linalg.det(A) < 0 else self.faces
        return TriMesh(v, f)


# ----------------------------------------------------------------------------- geometry utils


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) cross products of the triangle edges: direction = normal, length = 2 * area."""
    tri = vertices[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def flat_normals(mesh: TriMesh) -> np.ndarray:
    """(F, 3, 3) float32 corner normals of flat shading: every corner of a face has the face's unit normal."""
    n = face_normals(mesh.vertices, mesh.faces)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return np.repeat(n[:, None], 3, axis=1).astype(np.float32)


def signed_volume(mesh: TriMesh) -> float:
    tri = mesh.vertices[mesh.faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def corner_normals(vertices: np.ndarray, faces: np.ndarray, crease_deg: float = CREASE_DEG) -> np.ndarray:
    """Per-corner unit normals with a crease angle.

    The normal at corner k of face f is the area-weighted mean of the normals of all faces
    sharing that vertex whose normal is within ``crease_deg`` of face f's normal.

    Args:
        vertices: (N, 3); faces: (F, 3).
    Returns:
        (F, 3, 3) float32: [face, corner, xyz].
    """
    fn = face_normals(vertices, faces)
    area2 = np.linalg.norm(fn, axis=1)
    fnu = fn / np.maximum(area2, 1e-30)[:, None]
    F = len(faces)
    vc = faces.reshape(-1)  # vertex of each corner
    fc = np.repeat(np.arange(F), 3)  # face of each corner
    order = np.argsort(vc, kind="stable")
    counts = np.bincount(vc, minlength=len(vertices))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # all (corner, face sharing the corner's vertex) pairs: valence^2 per vertex
    reps = counts[vc]
    pair_corner = np.repeat(np.arange(3 * F), reps)
    first = np.concatenate([[0], np.cumsum(reps)[:-1]])
    within = np.arange(len(pair_corner)) - np.repeat(first, reps)
    pair_face = fc[order[start[vc[pair_corner]] + within]]
    cos = np.einsum("ij,ij->i", fnu[fc[pair_corner]], fnu[pair_face])
    keep = cos > math.cos(math.radians(crease_deg))
    pc, pf = pair_corner[keep], pair_face[keep]
    n = np.stack([np.bincount(pc, weights=fn[pf, k], minlength=3 * F) for k in range(3)], axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
    return n.reshape(F, 3, 3).astype(np.float32)


def bounding_sphere(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """A bounding sphere: centre of the axis-aligned box and the farthest vertex from it."""
    c = 0.5 * (vertices.min(0) + vertices.max(0))
    return c, float(np.linalg.norm(vertices - c, axis=1).max())


def rotation_matrix(axis, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    Kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * Kx + (1 - math.cos(angle)) * Kx @ Kx


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random (3, 3) rotation from a random unit quaternion."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


# ----------------------------------------------------------------------------- mesh builders


def _closed_grid(rings: np.ndarray, bottom, top) -> TriMesh:
    """Close a stack of rings (K, n, 3), ordered bottom->top and counter-clockwise, with poles."""
    K, n = rings.shape[:2]
    verts = np.concatenate(
        [np.asarray(bottom, np.float64)[None], rings.reshape(-1, 3), np.asarray(top, np.float64)[None]]
    )
    j = np.arange(n)
    jn = (j + 1) % n
    idx = lambda k, jj: 1 + k * n + jj  # noqa: E731
    faces = [np.stack([np.zeros(n, int), idx(0, jn), idx(0, j)], 1)]
    for k in range(K - 1):
        a, b, c, d = idx(k, j), idx(k, jn), idx(k + 1, jn), idx(k + 1, j)
        faces += [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]
    faces.append(np.stack([np.full(n, len(verts) - 1), idx(K - 1, j), idx(K - 1, jn)], 1))
    mesh = TriMesh(verts, np.concatenate(faces).astype(np.int64))
    if signed_volume(mesh) < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


def lathe(radius: np.ndarray, height: np.ndarray, segments: int = 32) -> TriMesh:
    """Closed surface of revolution about z from a profile ``(radius[k], height[k])``.

    The profile runs bottom to top; its first and last points are the poles on the axis.
    """
    w = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    r, z = np.asarray(radius[1:-1], float), np.asarray(height[1:-1], float)
    rings = np.stack(
        [r[:, None] * np.cos(w), r[:, None] * np.sin(w), np.broadcast_to(z[:, None], (len(r), segments))], -1
    )
    return _closed_grid(rings, (0, 0, height[0]), (0, 0, height[-1]))


def _cap(r: float, n: int) -> np.ndarray:
    return np.linspace(0, r, n + 1)


def cylinder(radius: float, height: float, segments: int = 32, rings: int = 2, cap_rings: int = 1) -> TriMesh:
    h = height / 2
    rad = np.concatenate([_cap(radius, cap_rings), np.full(rings - 1, radius), _cap(radius, cap_rings)[::-1]])
    z = np.concatenate([np.full(cap_rings + 1, -h), np.linspace(-h, h, rings + 1)[1:-1], np.full(cap_rings + 1, h)])
    return lathe(rad, z, segments)


def frustum(
    r_bottom: float, r_top: float, height: float, segments: int = 32, rings: int = 2, cap_rings: int = 1
) -> TriMesh:
    """Truncated cone; ``r_top = 0`` gives a cone."""
    h = height / 2
    side_r = np.linspace(r_bottom, r_top, rings + 1)[1:-1]
    side_z = np.linspace(-h, h, rings + 1)[1:-1]
    top = _cap(r_top, cap_rings)[::-1] if r_top > 0 else np.zeros(1)
    rad = np.concatenate([_cap(r_bottom, cap_rings), side_r, top])
    z = np.concatenate([np.full(cap_rings + 1, -h), side_z, np.full(len(top), h)])
    return lathe(rad, z, segments)


def ellipsoid(axes, segments: int = 32, rings: int = 16) -> TriMesh:
    th = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)
    return lathe(np.cos(th), np.sin(th), segments).transformed(np.diag(axes))


def capsule(radius: float, length: float, segments: int = 32, rings: int = 8, side_rings: int = 2) -> TriMesh:
    th = np.linspace(-np.pi / 2, 0, rings + 1)
    bot_r, bot_z = radius * np.cos(th), radius * np.sin(th) - length / 2
    mid_z = np.linspace(-length / 2, length / 2, side_rings + 1)[1:-1]
    rad = np.concatenate([bot_r, np.full(len(mid_z), radius), bot_r[::-1]])
    z = np.concatenate([bot_z, mid_z, -bot_z[::-1]])
    return lathe(rad, z, segments)


def superellipsoid(axes, e1: float, e2: float, segments: int = 48, rings: int = 24) -> TriMesh:
    """|x/a|^(2/e2) + |y/b|^(2/e2))^(e2/e1) + |z/c|^(2/e1) = 1; e -> 0 boxy, 1 round, 2 pointy."""
    sp = lambda x, e: np.sign(x) * np.abs(x) ** e  # noqa: E731
    eta = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)[1:-1, None]
    w = np.linspace(-np.pi, np.pi, segments, endpoint=False)[None]
    a, b, c = axes
    ring = np.stack(
        [
            a * sp(np.cos(eta), e1) * sp(np.cos(w), e2),
            b * sp(np.cos(eta), e1) * sp(np.sin(w), e2),
            np.broadcast_to(c * sp(np.sin(eta), e1), (rings - 1, segments)),
        ],
        -1,
    )
    return _closed_grid(ring, (0, 0, -c), (0, 0, c))


def torus(major: float, minor: float, segments: int = 40, tube_segments: int = 16) -> TriMesh:
    u = np.linspace(0, 2 * np.pi, segments, endpoint=False)[:, None]
    v = np.linspace(0, 2 * np.pi, tube_segments, endpoint=False)[None]
    verts = np.stack(
        [
            (major + minor * np.cos(v)) * np.cos(u),
            (major + minor * np.cos(v)) * np.sin(u),
            np.broadcast_to(minor * np.sin(v), (segments, tube_segments)),
        ],
        -1,
    ).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(segments), np.arange(tube_segments), indexing="ij")
    idx = lambda a, b: (a % segments) * tube_segments + (b % tube_segments)  # noqa: E731
    a, b, c, d = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    mesh = TriMesh(verts, faces.astype(np.int64))
    if signed_volume(mesh) < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


def box(size) -> TriMesh:
    """Axis-aligned box centred at the origin, each face split into 2 triangles."""
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * 0.5
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    mesh = TriMesh(corners * np.asarray(size, float), faces)
    if signed_volume(mesh) < 0:
        mesh.faces = mesh.faces[:, ::-1].copy()
    return mesh


def subdivide(mesh: TriMesh, times: int = 1) -> TriMesh:
    """Midpoint subdivision (each triangle -> 4), welded; the shape is unchanged."""
    v, f = mesh.vertices, mesh.faces
    for _ in range(times):
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(e, axis=0, return_inverse=True)
        mid = len(v) + inv.reshape(3, -1).T  # (F, 3): midpoints of edges 01, 12, 20
        v = np.concatenate([v, 0.5 * (v[uniq[:, 0]] + v[uniq[:, 1]])])
        a, b, c = f.T
        m01, m12, m20 = mid.T
        f = np.concatenate([np.stack(t, 1) for t in ((a, m01, m20), (m01, b, m12), (m20, m12, c), (m01, m12, m20))])
    return TriMesh(v, f)


@functools.cache
def _platonic(name: str) -> TriMesh:
    phi = (1 + 5**0.5) / 2
    if name == "tetrahedron":
        v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    elif name == "octahedron":
        v = np.concatenate([np.eye(3), -np.eye(3)])
    elif name == "icosahedron":
        v = np.array([[0, s1, s2 * phi] for s1 in (-1, 1) for s2 in (-1, 1)], float)
        v = np.concatenate([v, np.roll(v, 1, axis=1), np.roll(v, 2, axis=1)])
    elif name == "dodecahedron":
        cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        rect = np.array([[0, s1 / phi, s2 * phi] for s1 in (-1, 1) for s2 in (-1, 1)], float)
        v = np.concatenate([cube, rect, np.roll(rect, 1, axis=1), np.roll(rect, 2, axis=1)])
    else:
        raise ValueError(name)
    from scipy.spatial import ConvexHull

    hull = ConvexHull(v)
    mesh = TriMesh(v / np.linalg.norm(v, axis=1).max(), hull.simplices.astype(np.int64))
    # orient every face outward (convex, centred at the origin)
    tri = mesh.vertices[mesh.faces]
    flip = np.einsum("ij,ij->i", np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), tri.mean(1)) < 0
    mesh.faces[flip] = mesh.faces[flip][:, ::-1]
    return mesh


# ----------------------------------------------------------------------------- random shapes

PRIMITIVES = (
    "box",
    "ellipsoid",
    "cylinder",
    "cone",
    "frustum",
    "capsule",
    "torus",
    "superellipsoid",
    "lathe",
    "platonic",
)


def random_primitive(rng: np.random.Generator, kind: str | None = None, fine: bool = False) -> tuple[str, TriMesh]:
    """A random primitive of roughly unit size, centred near the origin, z up.

    ``fine`` tessellates densely (for deformation); boxes and platonic solids are then
    replaced by welded superellipsoids.
    """
    if kind is None:
        kind = PRIMITIVES[rng.integers(len(PRIMITIVES))]
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    seg, rings = (64, 24) if fine else (32, 2)
    if kind == "box":
        size = [u(0.35, 1.0), u(0.35, 1.0), u(0.35, 1.0)]
        mesh = subdivide(box(size), 4) if fine else box(size)
    elif kind == "ellipsoid":
        mesh = ellipsoid([u(0.35, 1), u(0.35, 1), u(0.35, 1)], segments=seg, rings=32 if fine else 16)
    elif kind == "cylinder":
        mesh = cylinder(u(0.2, 0.6), u(0.4, 1.6), segments=seg, rings=rings, cap_rings=6 if fine else 1)
    elif kind == "cone":
        mesh = frustum(u(0.25, 0.6), 0.0, u(0.5, 1.5), segments=seg, rings=rings, cap_rings=6 if fine else 1)
    elif kind == "frustum":
        mesh = frustum(u(0.25, 0.6), u(0.08, 0.45), u(0.4, 1.4), segments=seg, rings=rings, cap_rings=6 if fine else 1)
    elif kind == "capsule":
        mesh = capsule(u(0.2, 0.45), u(0.3, 1.2), segments=seg, side_rings=12 if fine else 2)
    elif kind == "torus":
        R = u(0.45, 0.7)
        mesh = torus(R, R * u(0.2, 0.55), segments=64 if fine else 40, tube_segments=24 if fine else 16)
        mesh = mesh.transformed(np.diag([1.0, u(0.6, 1.0), 1.0]))
    elif kind == "superellipsoid":
        mesh = superellipsoid(
            [u(0.3, 0.6), u(0.3, 0.6), u(0.3, 0.6)],
            u(0.2, 1.6),
            u(0.2, 1.6),
            segments=seg if fine else 48,
            rings=32 if fine else 24,
        )
    elif kind == "lathe":  # vase / bottle / goblet-like profile from a few random radii
        k = 6
        z = np.linspace(-0.6, 0.6, k) * u(0.7, 1.3)
        r = rng.uniform(0.12, 0.5, k)
        zz = np.linspace(z[0], z[-1], 24 if fine else 12)
        rr = np.interp(zz, z, r)
        rr = np.convolve(np.pad(rr, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
        mesh = lathe(np.concatenate([[0], rr, [0]]), np.concatenate([[zz[0]], zz, [zz[-1]]]), seg)
    elif kind == "platonic":
        name = ("tetrahedron", "octahedron", "icosahedron", "dodecahedron")[rng.integers(4)]
        mesh = _platonic(name).transformed(np.diag([u(0.7, 1), u(0.7, 1), u(0.7, 1)]) * 0.5)
        mesh = subdivide(mesh, 4) if fine else mesh
        kind = name
    else:
        raise ValueError(f"unknown primitive {kind!r}")
    return kind, mesh


def _place(mesh: TriMesh, R=None, t=(0, 0, 0)) -> TriMesh:
    return mesh.transformed(np.eye(3) if R is None else R, np.asarray(t, float))


def random_composite(rng: np.random.Generator) -> tuple[str, list[TriMesh]]:
    """2-6 overlapping closed primitives forming a recognisable (or random) object, z up."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    kinds = ("snowman", "table", "chair", "lamp", "mushroom", "dumbbell", "union")
    kind = kinds[rng.integers(len(kinds))]
    parts: list[TriMesh] = []
    if kind == "snowman":
        r = u(0.45, 0.6)
        z = -0.5
        for _ in range(int(rng.integers(2, 4))):
            parts.append(_place(ellipsoid([r, r, r * u(0.85, 1.0)], 24, 12), t=(0, 0, z + r)))
            z += 2 * r * u(0.72, 0.85)
            r *= u(0.6, 0.8)
        if rng.random() < 0.6:  # hat
            parts.append(_place(cylinder(r * u(0.6, 0.9), r * u(0.8, 1.5), 24), t=(0, 0, z + r * 0.6)))
    elif kind in ("table", "chair"):
        w, d, h = u(0.8, 1.4), u(0.6, 1.2), u(0.5, 1.0)
        thick = u(0.06, 0.15)
        leg_r = u(0.04, 0.09)
        parts.append(_place(box([w, d, thick]), t=(0, 0, h)))
        round_legs = rng.random() < 0.5
        for sx in (-1, 1):
            for sy in (-1, 1):
                x, y = sx * (w / 2 - 1.5 * leg_r), sy * (d / 2 - 1.5 * leg_r)
                leg = cylinder(leg_r, h, 12) if round_legs else box([2 * leg_r, 2 * leg_r, h])
                parts.append(_place(leg, t=(x, y, h / 2 + thick / 4)))
        if kind == "chair":
            bh = u(0.5, 1.0)
            parts.append(_place(box([w, thick, bh]), t=(0, d / 2 - thick / 2, h + bh / 2)))
    elif kind == "lamp":
        br, bh = u(0.3, 0.5), u(0.05, 0.15)
        ph = u(0.6, 1.2)
        parts.append(_place(cylinder(br, bh, 32), t=(0, 0, bh / 2)))
        parts.append(_place(cylinder(u(0.03, 0.07), ph, 12), t=(0, 0, bh + ph / 2 - 0.02)))
        sh = u(0.3, 0.6)
        parts.append(_place(frustum(u(0.3, 0.55), u(0.1, 0.25), sh, 32), t=(0, 0, bh + ph)))
    elif kind == "mushroom":
        sr, sh = u(0.12, 0.3), u(0.4, 0.9)
        parts.append(_place(frustum(sr * u(1.0, 1.4), sr, sh, 24), t=(0, 0, sh / 2)))
        cr = u(0.45, 0.8)
        parts.append(_place(ellipsoid([cr, cr, cr * u(0.35, 0.7)], 32, 16), t=(0, 0, sh)))
    elif kind == "dumbbell":
        L = u(0.8, 1.6)
        bar = _place(cylinder(u(0.05, 0.12), L, 16), R=rotation_matrix([0, 1, 0], np.pi / 2))
        parts.append(bar)
        end = random_primitive(rng, ("ellipsoid", "box", "cylinder")[rng.integers(3)])[1]
        c, r = bounding_sphere(end.vertices)
        end = end.transformed(np.eye(3) * (u(0.25, 0.4) / r), -c * (u(0.25, 0.4) / r))
        for s in (-1, 1):
            parts.append(_place(end, t=(s * L / 2, 0, 0)))
    else:  # union of random primitives, each touching the first one's bounding sphere
        for i in range(int(rng.integers(2, 5))):
            _, m = random_primitive(rng)
            c, r = bounding_sphere(m.vertices)
            s = u(0.5, 0.9) / r
            off = np.zeros(3) if i == 0 else rng.normal(size=3) * 0.3
            parts.append(TriMesh(m.vertices - c, m.faces).transformed(random_rotation(rng) * s, off))
    return kind, parts


def deform(mesh: TriMesh, rng: np.random.Generator) -> TriMesh:
    """Smooth random taper, twist, bend (about z) and normal displacement of a welded mesh."""
    v = mesh.vertices.copy()
    c, r = bounding_sphere(v)
    v = (v - c) / r  # unit bounding sphere for scale-independent parameters
    z = v[:, 2]
    if rng.random() < 0.6:  # taper
        k = rng.uniform(-0.6, 0.6)
        v[:, :2] *= (1 + k * z)[:, None]
    if rng.random() < 0.6:  # twist
        a = rng.uniform(-1.5, 1.5) * z
        x, y = v[:, 0].copy(), v[:, 1].copy()
        v[:, 0], v[:, 1] = np.cos(a) * x - np.sin(a) * y, np.sin(a) * x + np.cos(a) * y
    if rng.random() < 0.5:  # bend in the xz plane about a circle of radius R
        R = 1.0 / rng.uniform(0.3, 1.0)
        th = v[:, 2] / R
        x = v[:, 0].copy()
        v[:, 0] = (R - x) * -np.cos(th) + R
        v[:, 2] = (R - x) * np.sin(th)
    # low-frequency displacement along smooth vertex normals: sum of random 3D sinusoids
    fn = face_normals(v, mesh.faces)
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, mesh.faces[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    n_waves = 6
    freq = rng.normal(size=(n_waves, 3)) * rng.uniform(1.5, 4.0)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.uniform(0.02, 0.08) / np.sqrt(n_waves) * 2
    disp = amp * np.sin(v @ freq.T + phase).sum(1)
    v = v + disp[:, None] * vn
    # random orientation of the deformation axis
    return TriMesh(v, mesh.faces).transformed(random_rotation(rng) if rng.random() < 0.3 else np.eye(3))


def random_deformed(rng: np.random.Generator) -> tuple[str, TriMesh]:
    kind = PRIMITIVES[rng.integers(len(PRIMITIVES))]
    kind, mesh = random_primitive(rng, kind, fine=True)
    return kind, deform(mesh, rng)


# ----------------------------------------------------------------------------- mesh files


@functools.lru_cache(maxsize=64)
def load_mesh(path: str, mtime_ns: int = 0) -> TriMesh:
    """Load a mesh file, turn y-up to z-up and normalise it to the unit bounding sphere.

    Cached per process (``mtime_ns`` is part of the key so an edited file is re-read).
    Raises ValueError naming the file when it cannot be read or holds no triangles.
    """
    import open3d as o3d

    p = Path(path)
    try:
        m = o3d.io.read_triangle_mesh(str(p), enable_post_processing=False, print_progress=False)
    except Exception as e:
        raise ValueError(f"cannot read mesh file {str(p)!r}: {e}") from e
    v = np.asarray(m.vertices, np.float64)
    f = np.asarray(m.triangles, np.int64)
    if len(v) == 0 or len(f) == 0:
        raise ValueError(f"mesh file {str(p)!r} is empty or unreadable (no vertices/triangles)")
    if not np.isfinite(v).all() or f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"mesh file {str(p)!r} has invalid vertices or face indices")
    fn = face_normals(v, f)
    f = f[np.linalg.norm(fn, axis=1) > 0]  # drop degenerate triangles
    if len(f) == 0:
        raise ValueError(f"mesh file {str(p)!r} has only degenerate triangles")
    y_up_to_z_up = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    v = v @ y_up_to_z_up.T
    c, r = bounding_sphere(v)
    if r <= 0:
        raise ValueError(f"mesh file {str(p)!r} has zero extent")
    return TriMesh((v - c) / r, f)


@functools.lru_cache(maxsize=64)
def _mesh_normals(path: str, mtime_ns: int) -> np.ndarray:
    m = load_mesh(path, mtime_ns)
    return corner_normals(m.vertices, m.faces)


def mesh_file_with_normals(path: str | Path) -> tuple[TriMesh, np.ndarray]:
    """Cached :func:`load_mesh` and its (F, 3, 3) corner normals."""
    p = str(Path(path).resolve())
    key = Path(p).stat().st_mtime_ns
    return load_mesh(p, key), _mesh_normals(p, key)


# ----------------------------------------------------------------------------- surface sampling


def sample_surface(
    parts: list[TriMesh], normals: list[np.ndarray], n: int, rng: np.random.Generator, exclude_inside: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` points uniformly by area on the union surface of closed parts.

    Points of a part that lie inside another part are rejected (when ``exclude_inside`` and
    there are several parts), so the samples cover only the outer surface of the union.

    Args:
        parts: meshes; normals: their (F_i, 3, 3) corner normals.
    Returns:
        points (n, 3) float32 and unit normals (n, 3) float32 (interpolated corner normals).
    """
    tri = np.concatenate([p.vertices[p.faces] for p in parts])  # (F, 3, 3)
    cn = np.concatenate(normals).astype(np.float64)
    part_of = np.concatenate([np.full(len(p.faces), i) for i, p in enumerate(parts)])
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    cdf = np.cumsum(area)
    scenes = None
    if exclude_inside and len(parts) > 1:
        import open3d as o3d

        scenes = []
        for p in parts:
            s = o3d.t.geometry.RaycastingScene()
            s.add_triangles(p.vertices.astype(np.float32), p.faces.astype(np.uint32))
            scenes.append(s)
    pts_out, nrm_out, have = [], [], 0
    m = 2 * n if scenes else n
    for _ in range(50):
        fi = np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right"), len(cdf) - 1)
        r1, r2 = np.sqrt(rng.random(m)), rng.random(m)
        w = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], 1)
        pts = np.einsum("mk,mkd->md", w, tri[fi])
        nrm = np.einsum("mk,mkd->md", w, cn[fi])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        if scenes:
            inside = np.zeros(m, bool)
            q = pts.astype(np.float32)
            for j, s in enumerate(scenes):
                other = part_of[fi] != j
                occ = s.compute_occupancy(q[other], nthreads=1, nsamples=3).numpy().astype(bool)
                inside[np.flatnonzero(other)[occ]] = True
            pts, nrm = pts[~inside], nrm[~inside]
        pts_out.append(pts)
        nrm_out.append(nrm)
        have += len(pts)
        if have >= n:
            break
        m = 2 * n
    else:
        raise RuntimeError("surface sampling failed: the parts are (nearly) all inside each other")
    return (np.concatenate(pts_out)[:n].astype(np.float32), np.concatenate(nrm_out)[:n].astype(np.float32))
