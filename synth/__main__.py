"""`python -m synth --stack staging [--config-file F] [--out DIR] [--stack-outputs FILE] [--check]`.

`--check` runs the fast reachability walk (synth/check.py), then the Istio judge (synth/verify.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synth.check import check_paths, format_report
from synth.engine import PROJECT_DIR, run_program
from synth.render import summary, write_tree
from synth.verify import judge_and_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__)
    parser.add_argument("--stack", default="staging", help="stack name (default: staging)")
    parser.add_argument("--config-file", type=Path, help="stack file (default: Pulumi.<stack>.yaml in the project)")
    parser.add_argument("--out", type=Path, help="output directory (default: build/<stack>)")
    parser.add_argument(
        "--stack-outputs", type=Path, help="JSON file: stack name -> outputs, what stack references return"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="also check every declared path: the fast reachability walk, then the Istio judge (synth.verify)",
    )
    args = parser.parse_args(argv)

    config_file = args.config_file or PROJECT_DIR / f"Pulumi.{args.stack}.yaml"
    if not config_file.is_file():
        print(f"synth: no stack file {config_file}", file=sys.stderr)
        return 2
    stack_outputs = None
    if args.stack_outputs:
        try:
            stack_outputs = json.loads(args.stack_outputs.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"synth: --stack-outputs {args.stack_outputs}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(stack_outputs, dict) or not all(isinstance(v, dict) for v in stack_outputs.values()):
            print("synth: --stack-outputs must map stack name -> outputs object", file=sys.stderr)
            return 2

    result = run_program(args.stack, config_file, stack_outputs)
    if result.errors:
        sys.stderr.write(summary(result, None))
        return 2
    out = args.out or PROJECT_DIR / "build" / args.stack
    write_tree(result, out)
    sys.stdout.write(summary(result, out))
    if args.check:
        report = check_paths(result)
        sys.stdout.write(format_report(report))
        if any(not line.ok for line in report):
            return 1
        code = judge_and_report(out, "synth")
        if code != 0:
            return 1 if code == 1 else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
