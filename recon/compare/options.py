"""``compare.yaml``: a study's recon-compare options, so ``recon-compare experiments/<study>`` is the whole command.

Every key is optional; a command-line option given explicitly overrides the file::

    title: "Single-view model families"   # the results.md heading (default "recon-compare: `<study>`")
    intro: "One paragraph shown under the heading."
    metrics: [test/chamfer_l1, test/fscore]   # table columns (default: the usual ones that were logged)
    group_by: [model]                      # dotted config keys that define a group
    curves: [val/chamfer_l1, train/loss]   # metrics.csv columns plotted per epoch
    evals:                                 # extra columns from runs/<run>/eval/<name>/summary.json
      motorcycle: [test/epe_all, test/bad2_all]
    labels: {test/chamfer_l1: Chamfer-L1, "motorcycle:test/epe_all": Motorcycle EPE}   # column headings
    group_labels: {PointSetCNN: cnn_points}   # shown group names (automatic label -> shown label)
    formats: {default: .4g, test/fscore: .3f}   # Python format specs of mean and std ("default": every column)
    allow_mismatch: false
    plots: true
"""

from pathlib import Path

import yaml

FILE_NAME = "compare.yaml"
DEFAULTS = {
    "title": None,
    "intro": None,
    "metrics": None,
    "group_by": ["model"],
    "curves": None,
    "evals": {},
    "labels": {},
    "group_labels": {},
    "formats": {},
    "allow_mismatch": False,
    "plots": True,
}


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _is_str_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


CHECKS = {
    "title": (lambda v: isinstance(v, str), "a string"),
    "intro": (lambda v: isinstance(v, str), "a string"),
    "metrics": (lambda v: _is_str_list(v) and v, "a non-empty list of metric names"),
    "group_by": (lambda v: _is_str_list(v) and v, "a non-empty list of dotted config keys"),
    "curves": (lambda v: _is_str_list(v) and v, "a non-empty list of metrics.csv columns"),
    "evals": (
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and k and (m is None or _is_str_list(m)) for k, m in v.items())
        ),
        "a mapping of eval name to a list of metrics (or null for the usual ones)",
    ),
    "labels": (_is_str_map, "a mapping of column to heading"),
    "group_labels": (_is_str_map, "a mapping of automatic group label to shown label"),
    "formats": (_is_str_map, "a mapping of column (or 'default') to a format spec such as .4f"),
    "allow_mismatch": (lambda v: isinstance(v, bool), "true or false"),
    "plots": (lambda v: isinstance(v, bool), "true or false"),
}


def load_options(path: Path) -> dict:
    """The options of ``path`` over the defaults; a clear error naming the file and key for anything wrong."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SystemExit(f"recon-compare: cannot read {path}: {e}") from None
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict):
        raise SystemExit(f"recon-compare: {path} must be a mapping of option to value")
    unknown = sorted(str(k) for k in loaded if k not in DEFAULTS)
    if unknown:
        raise SystemExit(f"recon-compare: {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    for key, value in loaded.items():
        check, expected = CHECKS[key]
        if not check(value):
            raise SystemExit(f"recon-compare: {path}: {key} must be {expected}, got {value!r}")
    for column, spec in loaded.get("formats", {}).items():
        try:
            format(0.5, spec)
        except ValueError:
            raise SystemExit(f"recon-compare: {path}: formats.{column} {spec!r} is not a float format spec") from None
    options = {**DEFAULTS, **loaded}
    options["evals"] = {name: metrics or [] for name, metrics in options["evals"].items()}
    return options


def study_options(study_dir: Path) -> dict:
    """``<study_dir>/compare.yaml`` if there is one, else the defaults."""
    path = Path(study_dir) / FILE_NAME
    return load_options(path) if path.is_file() else dict(DEFAULTS)
