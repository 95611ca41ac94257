"""How a configuration problem is written: one line, starting with its key path.

`ConfigError` carries the lines; `show` quotes a value inside a line, `key_path` builds the key path.
Everything that reports a configuration problem (the model's validators, the checks, the loading,
the trafficPolicy schema check) uses these, so every line looks the same and stays one line.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi

NAMESPACE = "meshbridge"
# longest value shown back in an error line, and longest error line
SHOW_LIMIT = 60
LINE_LIMIT = 400


class ConfigError(pulumi.RunError):
    """Invalid stack configuration: one line per problem, each starting with the key path."""

    def __init__(self, problems: list[str]):
        self.problems = [one_line(p) for p in problems]
        super().__init__("invalid meshbridge configuration:\n" + "\n".join(self.problems))


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` as one printable line: control characters escaped, cut at `limit` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any, limit: int = SHOW_LIMIT) -> str:
    """A value as shown in an error: repr, escaped, and cut (with its length) when long."""
    if isinstance(value, str) and len(value) > limit:
        return ascii(value[:limit])[:-1] + f"…' ({len(value)} characters)"
    text = ascii(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "…"


def key_path(prefix: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """`prefix` followed by `loc` as a key path: `[i]` for list items, `.key` for plain keys, and
    `["key"]` (escaped, cut) for any other key, so that a key holding a newline or 5 MB stays one line."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", part, re.ASCII):
            out += f".{part}"
        else:
            out += f"[{show(str(part))}]"
    return out
