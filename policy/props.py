"""Resource properties as the rules see them: plain dicts and lists, with UNKNOWN for what a preview
cannot know yet.

pulumi_policy hands a policy the properties behind a proxy (Mapping and Sequence, not dict and
list) that raises UnknownValueError when a value is unknown during preview. Given to the rules as
is, a list property is not a `list` (so `no-open-ingress` never saw 0.0.0.0/0 in `cidrBlocks`), and
copying the properties raised on the first unknown value anywhere, so that pulumi_policy skipped
every rule for that resource ("can't run policy ... during preview"). `make e2e` showed the second
on the real engine's preview; the first was found while fixing it (the local stack has no security
group). Here each unknown value becomes `UNKNOWN` in its place; a rule reading it sees a value that
equals nothing it looks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError


class Unknown:
    """A property value a preview cannot know yet; equal to nothing but itself."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown()


def plain(value: Any) -> Any:
    """`value` (a pulumi_policy proxy or plain data) as plain dicts and lists, unknowns as UNKNOWN."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value
