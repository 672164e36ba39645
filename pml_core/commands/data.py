"""``python -m pml_core data check NAME ROOT [--json]``: layout check and split summary of a dataset."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="dataset utilities (check a prepared dataset)",
                                   description="Dataset utilities.")
    commands = parser.add_subparsers(dest="data_command", metavar="{check}")
    commands.required = True
    check = commands.add_parser("check", help="check a dataset's layout and print its split summary",
                                description="Build dataset NAME from ROOT, decode a few images and compare the split "
                                            "sizes with the official ones. Exit status 1 when a problem is found.")
    check.add_argument("name", metavar="NAME", help="dataset config name (glyphs, cub200-openset, sop-openset, ...)")
    check.add_argument("root", metavar="ROOT", help="data root folder")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(func=run)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from ..data.check import check_dataset

    result = check_dataset(args.name, args.root)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"[{'ok' if result['ok'] else 'FAILED'}] {result['name']} at {result['root']}")
        for split, info in result["splits"].items():
            details = ", ".join(f"{key} {value}" for key, value in info.items() if value is not None)
            print(f"  {split}: {details}")
        for problem in result["problems"]:
            print(f"  problem: {problem}")
    return 0 if result["ok"] else 1
