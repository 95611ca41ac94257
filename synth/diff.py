"""`python -m synth.diff BASE HEAD [--title T]`: Markdown diff of two synth trees, for the PR comment.

Three sections, as a reviewer reads them: Kubernetes objects (clusters/*/*.yaml), Helm releases
(clusters/*/helm/*.yaml) and AWS and other resource inputs (resources.json, per resource). Both
trees are redacted already (synth never writes a secret), so the comment can be public.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

MARKER = "<!-- meshbridge-synth-diff -->"
MAX_CHARS = 60000  # GitHub comments hold 65536 characters


def _files(root: Path, pattern: str, exclude_helm: bool) -> dict[str, str]:
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.glob(pattern)):
        rel = str(p.relative_to(root))
        if exclude_helm and "/helm/" in rel:
            continue
        out[rel] = p.read_text()
    return out


def _resources(root: Path) -> dict[str, str]:
    path = root / "resources.json"
    if not path.exists():
        return {}
    return {
        r["urn"].split("::", 2)[-1]: json.dumps(r["inputs"], indent=2, sort_keys=True) + "\n"
        for r in json.loads(path.read_text())
        if not r["type"].startswith("kubernetes:") and not r.get("component")
    }


def _section(title: str, base: dict[str, str], head: dict[str, str]) -> str:
    chunks = []
    for name in sorted(set(base) | set(head)):
        a, b = base.get(name, ""), head.get(name, "")
        if a == b:
            continue
        diff = "".join(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                fromfile=f"base/{name}" if a else "/dev/null",
                tofile=f"head/{name}" if b else "/dev/null",
            )
        )
        chunks.append(diff)
    if not chunks:
        return f"### {title}\n\nno change\n"
    return f"### {title} ({len(chunks)} changed)\n\n```diff\n" + "".join(chunks) + "```\n"


def render(base: Path, head: Path, title: str) -> str:
    body = [
        MARKER,
        f"## {title}",
        _section(
            "Kubernetes objects", _files(base, "clusters/*/*.yaml", True), _files(head, "clusters/*/*.yaml", True)
        ),
        _section(
            "Helm releases",
            _files(base, "clusters/*/helm/*.yaml", False),
            _files(head, "clusters/*/helm/*.yaml", False),
        ),
        _section("AWS and other resource inputs", _resources(base), _resources(head)),
    ]
    text = "\n".join(body)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS] + "\n```\n\n(truncated: the full diff is in the workflow artifact)\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth.diff")
    parser.add_argument("base", type=Path)
    parser.add_argument("head", type=Path)
    parser.add_argument("--title", default="meshbridge synth diff")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.base, args.head, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
