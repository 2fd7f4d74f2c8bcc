"""recon-report PATH: one self-contained HTML page (works offline) for a run, study or sweep directory.

recon-report logs/train/runs/<run>            # -> <run>/report.html
recon-report experiments/<study> --out /tmp/study.html
"""

import argparse
import sys
from pathlib import Path

from recon.viz.report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recon-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a run directory (with summary.json), or a study / sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="the HTML file (default: PATH/report.html)")
    parser.add_argument("--max-points", type=int, default=4096, help="points per 3D trace (larger clouds subsampled)")
    parser.add_argument("--max-map-side", type=int, default=256, help="longer side of the maps shown, in pixels")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.path, args.out, args.max_points, args.max_map_side)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    print(f"recon-report: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
