"""``recon-zoo``: list the shipped trained models, or make a zoo entry from a trained checkpoint."""

import argparse

from recon.engine import zoo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recon-zoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the entries, their size and their checked metric")
    export = commands.add_parser("export", help="write <checkpoint>'s weights and config as experiments/zoo/<name>/")
    export.add_argument("checkpoint")
    export.add_argument("name")
    export.add_argument("--half", action="store_true", help="store float32 weights as float16 (half the size)")
    args = parser.parse_args(argv)
    if args.command == "export":
        path = zoo.export(args.checkpoint, args.name, half=args.half)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); add card.md and check.yaml beside it")
        return
    for name in zoo.names():
        size = (zoo.ZOO_DIR / name / zoo.CHECKPOINT).stat().st_size / 1e6
        check = zoo.load_check(name)
        case = " ".join(check["overrides"])
        print(f"{zoo.PREFIX}{name}  {size:.1f} MB  {check['metric']} = {check['value']} on {case}")


if __name__ == "__main__":
    main()
