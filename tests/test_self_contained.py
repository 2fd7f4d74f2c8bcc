"""A clone is self-contained: nothing in the project reads outside the repository, and data/README.md lists every
file of data/ with its true size."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import DATA, ROOT

PROJECT = ["conf", "recon", "tests", "docs", ".ci", "README.md", "train.py", "setup.sh", "pyproject.toml"]
# a folder beside the checkout, however it is spelt: a relative path, a path element, a config key
OUTSIDE = re.compile(
    r"""\.\./shared\b|\bshared['"]?\s*/\s*['"]?(?:data|tools)\b|\.parents?\b.*['"]shared['"]|shared_dir"""
)
# a README table row: | `path` | bytes | ...
LISTED = re.compile(r"^\| `([^`]+)` \| ([\d,]+) \|", flags=re.M)


def tracked(*paths: str) -> list[str]:
    """The files git tracks under ``paths`` (relative to the repository root)."""
    out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name]


@pytest.mark.parametrize(
    "line",
    [
        "data.synthetic.mesh_dir=$PWD/../shared/data/meshes",
        'MESH_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "meshes"',
        'SHARED = ROOT.parent / "shared"',
        "root: ${paths.shared_dir}/data/dinoSparseRing",
        "run /work/shared/tools/fresh-clone-check",
    ],
)
def test_the_pattern_catches_each_way_of_reading_outside(line):
    assert OUTSIDE.search(line)


@pytest.mark.parametrize("line", ["a shared-MLP deformation", "Shared 2D features", "shared = rng.random() < 0.5"])
def test_the_pattern_leaves_other_uses_of_the_word_alone(line):
    assert not OUTSIDE.search(line)


def test_no_project_file_reads_outside_the_repository():
    files = [name for name in tracked(*PROJECT) if ROOT / name != Path(__file__)]  # this file names the pattern
    assert "README.md" in files and any(f.startswith("tests/") for f in files)
    offenders = [
        f"{name}:{number}: {line.strip()}"
        for name in files
        if (ROOT / name).suffix not in (".ckpt", ".png", ".npz")
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_data_readme_lists_every_tracked_data_file_with_its_size():
    readme = DATA / "README.md"
    listed = {path: int(size.replace(",", "")) for path, size in LISTED.findall(readme.read_text())}
    files = [name.removeprefix("data/") for name in tracked("data") if name != "data/README.md"]
    assert not [name for name in files if name.startswith("cache/")], "data/cache/ must stay untracked"
    assert files, "no data file is tracked"
    assert sorted(listed) == sorted(files)
    assert {path: (DATA / path).stat().st_size for path in files} == listed
