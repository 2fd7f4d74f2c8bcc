"""recon-compare DIR [options]: one table and plots from the summary.json files of many runs."""

import argparse
import sys
from pathlib import Path

from recon.compare import study as study_module
from recon.compare.report import print_study, write_study
from recon.compare.study import compare


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="recon-compare",
        description=study_module.__doc__.split("\n\n")[0],
        epilog="Details: python -c 'import recon.compare.study; help(recon.compare.study)'",
    )
    parser.add_argument("study_dir", type=Path, help="directory searched recursively for summary.json files")
    parser.add_argument("--out", type=Path, default=None, help="where to write results (default: study_dir)")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        help="test metrics for the table and plots (default: those of Chamfer-L1/L2, F-score, IoU, "
        "accuracy, completeness that were logged)",
    )
    parser.add_argument(
        "--group-by",
        nargs="+",
        default=["model"],
        metavar="KEY",
        help="dotted config keys whose values define a group (default: model)",
    )
    parser.add_argument(
        "--curves",
        nargs="+",
        default=None,
        metavar="COLUMN",
        help="metrics.csv columns plotted per epoch (default: the runs' optimized_metric and train/loss)",
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="aggregate runs on another test set too (they stay listed as flagged)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    study = compare(args.study_dir, metrics=args.metrics, group_by=args.group_by, allow_mismatch=args.allow_mismatch)
    out = args.out or args.study_dir
    written = write_study(study, out, curves=args.curves, plots=not args.no_plots)
    print_study(study, written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
