"""recon-compare DIR [options]: one table and plots from the summary.json files of many runs.

recon-compare experiments/<study>                        # a study's committed records, with its compare.yaml
recon-compare --collect RUN_OR_SWEEP_DIR... --into experiments/<study>/runs
recon-compare --collect EVAL_DIR... --eval NAME --into experiments/<study>/runs
"""

import argparse
import sys
from pathlib import Path

from recon.compare import study as study_module
from recon.compare.options import FILE_NAME, study_options
from recon.compare.records import collect
from recon.compare.report import print_study, write_study
from recon.compare.study import compare


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="recon-compare",
        description=study_module.__doc__.split("\n\n")[0],
        epilog="Details: python -c 'import recon.compare.study; help(recon.compare.study)'",
    )
    parser.add_argument(
        "study_dir",
        type=Path,
        nargs="?",
        help=f"directory searched recursively for summary.json files; its {FILE_NAME}, if any, gives the defaults",
    )
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
        default=None,
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
        default=None,
        help="aggregate runs on another test set too (they stay listed as flagged)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    collecting = parser.add_argument_group("building a study's records")
    collecting.add_argument(
        "--collect",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="copy the record files (summary.json, csv/metrics.csv, eval/*/summary.json; the config of a run "
        "without summary) of these run dirs, or of every run below them, into --into/<run>/",
    )
    collecting.add_argument("--into", type=Path, help="the study's records folder, e.g. experiments/<study>/runs")
    collecting.add_argument(
        "--eval",
        metavar="NAME",
        help="with --collect: the dirs are recon-eval outputs; each summary goes to --into/<run>/eval/NAME/, "
        "<run> being the run whose checkpoint it scored",
    )
    args = parser.parse_args(argv)
    if args.collect:
        if args.into is None or args.study_dir is not None:
            parser.error("--collect DIR... takes --into RECORDS_DIR and no study dir")
    elif args.study_dir is None:
        parser.error("a study dir is required (or --collect DIR... --into RECORDS_DIR)")
    elif args.into is not None or args.eval is not None:
        parser.error("--into and --eval go with --collect")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.collect:
        written = collect(args.collect, args.into, args.eval)
        print(f"copied {len(written)} record files into {args.into}")
        return 0
    options = study_options(args.study_dir) if args.study_dir.is_dir() else {}
    given = {
        "metrics": args.metrics,
        "group_by": args.group_by,
        "curves": args.curves,
        "allow_mismatch": args.allow_mismatch,
        "plots": False if args.no_plots else None,
    }
    options.update({k: v for k, v in given.items() if v is not None})
    study = compare(
        args.study_dir,
        metrics=options.get("metrics"),
        group_by=options.get("group_by") or ["model"],
        allow_mismatch=bool(options.get("allow_mismatch")),
        evals=options.get("evals"),
        group_labels=options.get("group_labels"),
    )
    out = args.out or args.study_dir
    written = write_study(study, out, curves=options.get("curves"), plots=options.get("plots", True), view=options)
    print_study(study, written, view=options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
