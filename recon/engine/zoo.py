"""recon's model zoo: weights recon trained, shipped in the repository and addressable as ``ckpt_path=zoo:<name>``.

An entry is a folder ``experiments/zoo/<name>/`` holding

- ``model.ckpt``: a recon checkpoint cut to what inference needs (the stored run config and the ``state_dict``; no
  optimizer or loop state), loaded with the same weights-only loading as any checkpoint;
- ``card.md``: how it was trained (data, steps, CPU time, config, seed) and what it scores, on synthetic and real data;
- ``check.yaml``: a small real case it is scored on (``recon-eval`` overrides), the metric and the value recorded
  there, and the tolerance; ``tests/test_zoo.py`` scores every entry again and compares.

``recon-zoo list`` shows the entries; ``recon-zoo export <checkpoint> <name>`` makes one from a trained run.
"""

from pathlib import Path

import torch
import yaml

from recon.callbacks.config_in_checkpoint import CONFIG_KEY

ZOO_DIR = Path(__file__).resolve().parents[2] / "experiments" / "zoo"
PREFIX = "zoo:"
CHECKPOINT, CARD, CHECK = "model.ckpt", "card.md", "check.yaml"
CHECK_KEYS = ("overrides", "metric", "value", "tolerance")


def names(zoo_dir: Path | None = None) -> list[str]:
    """The zoo's entries: folders holding a ``model.ckpt``."""
    return sorted(p.parent.name for p in Path(zoo_dir or ZOO_DIR).glob(f"*/{CHECKPOINT}"))


def resolve(ckpt_path: str | Path, zoo_dir: Path | None = None) -> Path:
    """``zoo:<name>`` -> that entry's checkpoint file; any other path is returned as a ``Path``."""
    text = str(ckpt_path)
    if not text.startswith(PREFIX):
        return Path(ckpt_path)
    name = text[len(PREFIX) :]
    path = Path(zoo_dir or ZOO_DIR) / name / CHECKPOINT
    if not name or "/" in name or not path.is_file():
        available = ", ".join(PREFIX + n for n in names(zoo_dir)) or "none"
        raise FileNotFoundError(f"ckpt_path={text}: no such zoo entry; available: {available}")
    return path


def load_check(name: str, zoo_dir: Path | None = None) -> dict:
    """An entry's ``check.yaml`` (keys :data:`CHECK_KEYS`), validated."""
    path = Path(zoo_dir or ZOO_DIR) / name / CHECK
    check = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(check, dict) or any(key not in check for key in CHECK_KEYS):
        raise ValueError(f"{path}: needs the keys {', '.join(CHECK_KEYS)}")
    return check


def export(checkpoint_path: str | Path, name: str, zoo_dir: Path | None = None, half: bool = False) -> Path:
    """Write a training checkpoint's inference part as the entry ``name`` (its ``model.ckpt``); returns the path.

    ``half`` stores float32 tensors as float16 (half the size; loading casts them back to the model's float32, so
    the weights change by float16 rounding: record the check's metric from the exported entry). The card and the
    check are written by hand from the run's records (see any existing entry)."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if CONFIG_KEY not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{checkpoint_path} is not a recon checkpoint (no '{CONFIG_KEY}' config or 'state_dict')")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"zoo entry names are plain folder names, got {name!r}")
    folder = Path(zoo_dir or ZOO_DIR) / name
    folder.mkdir(parents=True, exist_ok=True)
    state = checkpoint["state_dict"]
    if half:
        state = {k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()}
    kept = {CONFIG_KEY: checkpoint[CONFIG_KEY], "state_dict": state}
    for key in ("epoch", "global_step", "pytorch-lightning_version"):
        if key in checkpoint:
            kept[key] = checkpoint[key]
    path = folder / CHECKPOINT
    torch.save(kept, path)
    return path
