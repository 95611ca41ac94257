"""Defensive YAML reading for stack files and `meshbridge:distribute[].file`.

`read_yaml` turns bytes into plain Python values (dict, list, str, int, float, bool, None) and
refuses, with one line naming the line of the file, anything a reader could take two ways or that
would not end quickly with bounded memory:

- more than `MAX_BYTES` bytes; UTF-16/UTF-32 (byte order mark or NUL bytes); invalid UTF-8;
- YAML syntax errors, tab indentation (a syntax error with its own message);
- a mapping key given twice (PyYAML would silently keep the last one), a key that is not a
  scalar, merge keys (`<<`);
- nesting deeper than `MAX_DEPTH`; more than `MAX_NODES` nodes, counting every alias as the whole
  subtree it repeats (so "billion laughs" anchors are refused after a bounded amount of work, and
  what is returned can be walked and serialised within that bound); an alias of an unfinished
  node (a recursive structure);
- explicit tags other than the core `!!str !!int !!float !!bool !!null !!map !!seq`;
- plain numbers that YAML readers disagree on (`0755`, `08080`, `1_000`, `0b101`): quote them, or
  write them without leading zeros, underscores or a binary prefix; integers longer than 64 digits.

Plain scalars resolve by the YAML 1.2 core schema, as the Pulumi CLI's reader does: `null ~` and
empty are null, `true/false` (also capitalised) are booleans, decimal/`0x`/`0o` integers, decimal
floats and `.inf`/`.nan`; everything else (`yes`, `on`, `1.30.3`, `10.0.0.0/16`) is a string. Keys are
always strings (the text as written). The work is one pass over the parser's events, with no
recursion, so the time is linear in the size of the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

import yaml

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 2_000_000
MAX_INT_DIGITS = 64

_CORE = "tag:yaml.org,2002:"
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)", re.ASCII)
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+", re.ASCII)
_OCT_RE = re.compile(r"0o[0-7]+", re.ASCII)
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_INF_RE = re.compile(r"[-+]?\.(?:inf|Inf|INF)", re.ASCII)
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)", re.ASCII)
# numbers that YAML 1.1 readers (PyYAML), YAML 1.2 readers and the Go reader of the Pulumi CLI read
# differently: octal with a leading zero, digit separators, binary
_AMBIGUOUS_RE = re.compile(r"[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*_[0-9_]*|[-+]?0b[01_]+", re.ASCII)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """A problem of a YAML file: `message` with the 1-based `line` where known."""

    def __init__(self, message: str, line: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def where(self, name: str) -> str:
        """One line: `<name>:<line>: <message>`."""
        return f"{name}:{self.line}: {self.message}" if self.line else f"{name}: {self.message}"


def _line(mark: Any) -> Optional[int]:
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlError("the file is UTF-16 or UTF-32 encoded (byte order mark); save it as UTF-8", 1)
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise YamlError(
            "the file contains NUL bytes (UTF-16/UTF-32 without a byte order mark?); save it as UTF-8", line
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8", line) from None


def _scalar(event: Any) -> Any:
    value: str = event.value
    tag = event.tag
    line = _line(event.start_mark)
    if tag not in (None, "!"):
        if not tag.startswith(_CORE) or tag[len(_CORE) :] not in ("str", "int", "float", "bool", "null"):
            raise YamlError(f"tag {_short(tag)} is not supported (plain values only)", line)
        kind = tag[len(_CORE) :]
        if kind == "str":
            return value
        resolved = _plain(value, line)
        ok = {
            "int": isinstance(resolved, int) and not isinstance(resolved, bool),
            "float": isinstance(resolved, float),
            "bool": isinstance(resolved, bool),
            "null": resolved is None,
        }[kind]
        if not ok:
            raise YamlError(f"{_short(value)} is not a valid !!{kind}", line)
        return resolved
    if tag == "!" or not event.implicit[0]:  # quoted or block scalar: always a string
        return value
    return _plain(value, line)


def _plain(value: str, line: Optional[int]) -> Any:
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if len(value) > MAX_INT_DIGITS + 2 and value[:1].isdigit():
        if _FLOAT_RE.fullmatch(value):
            raise YamlError(f"number {value[:20]}… is too long ({len(value)} digits)", line)
        return value
    if _INT_RE.fullmatch(value):
        return int(value)
    if _HEX_RE.fullmatch(value):
        return int(value[2:], 16)
    if _OCT_RE.fullmatch(value):
        return int(value[2:], 8)
    if _AMBIGUOUS_RE.fullmatch(value):
        raise YamlError(
            f"ambiguous number {_short(value)}: YAML readers disagree on its value; quote it if it is a string, "
            "otherwise write it without leading zeros, underscores or 0b",
            line,
        )
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    if _INF_RE.fullmatch(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN_RE.fullmatch(value):
        return math.nan
    return value


def _short(value: str, limit: int = 40) -> str:
    if value.startswith(_CORE):
        value = "!!" + value[len(_CORE) :]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…" + f" ({len(value)} characters)"


class _Frame:
    __slots__ = ("anchor", "first_line", "key", "key_line", "kind", "nodes", "value")

    def __init__(self, kind: str, value: Any, anchor: Optional[str]):
        self.kind = kind
        self.value = value
        self.anchor = anchor
        self.nodes = 1
        self.key: Any = _NO_KEY
        self.key_line: Optional[int] = None
        self.first_line: dict[str, Optional[int]] = {}


_NO_KEY = object()


def _events(text: str) -> Any:
    loader = _Loader(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.YAMLError, text: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None)
    line = _line(mark)
    if line is None and isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return YamlError(f"character U+{char:04X} is not allowed in YAML (control characters must be escaped)", line)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    lines = text.splitlines()
    if line is not None and 0 < line <= len(lines):
        src = lines[line - 1]
        indent = src[: len(src) - len(src.lstrip(" \t"))]
        col = getattr(mark, "column", -1)
        if "\t" in indent or (0 <= col < len(src) and src[col] == "\t"):
            return YamlError("tab character used for indentation; YAML allows only spaces", line)
    context = getattr(exc, "context", None)
    text_ = f"{context}: {problem}" if context else problem
    return YamlError(f"YAML syntax error: {' '.join(str(text_).split())}", line)


def _key_path(stack: list[_Frame], key: str) -> str:
    """Where `key` of the innermost mapping is, as configuration key paths are written
    (`meshbridge:clusters[0].name` inside a stack file's `config:`, `metadata.name` elsewhere)."""
    parts: list[Any] = [f.key if f.kind == "map" else len(f.value) for f in stack[:-1]] + [key]
    if len(parts) >= 2 and parts[0] == "config" and isinstance(parts[1], str):
        prefix, rest = _short(parts[1], 60).strip("'\""), parts[2:]
    else:
        prefix, rest = "", parts
    out = prefix
    for part in rest:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]{1,100}", str(part), re.ASCII):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{_short(str(part))}]"
    return out


def load_yaml(data: bytes | str, *, multi: bool = False) -> Any:
    """Parse one YAML document (or, with `multi`, the list of all documents). Raises YamlError."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise YamlError(f"the file has {len(data)} bytes, more than the {MAX_BYTES} meshbridge reads")
    text = _decode(data)
    docs: list[Any] = []
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    total = 0
    try:
        for event in _events(text):
            if isinstance(event, yaml.DocumentStartEvent):
                anchors = {}
                if docs and not multi:
                    raise YamlError(
                        "more than one YAML document ('---'); a stack file is one document", _line(event.start_mark)
                    )
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
                continue
            line = _line(event.start_mark)
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                value, count = frame.value, frame.nodes
                if frame.anchor is not None:
                    anchors[frame.anchor] = (value, count)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:
                    raise YamlError(f"alias *{_short(event.anchor)} refers to an undefined or unfinished anchor", line)
                value, count = anchors[event.anchor]
            elif isinstance(event, yaml.ScalarEvent):
                is_key = bool(stack) and stack[-1].kind == "map" and stack[-1].key is _NO_KEY
                value, count = (event.value if is_key else _scalar(event)), 1
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 1)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                is_map = isinstance(event, yaml.MappingStartEvent)
                tag = event.tag
                if tag not in (None, "!") and tag != _CORE + ("map" if is_map else "seq"):
                    raise YamlError(f"tag {_short(tag)} is not supported (plain mappings and lists only)", line)
                if len(stack) >= MAX_DEPTH:
                    raise YamlError(f"nested more than {MAX_DEPTH} levels deep", line)
                if stack and stack[-1].kind == "map" and stack[-1].key is _NO_KEY:
                    raise YamlError("a mapping key must be a plain value, not a mapping or list", line)
                stack.append(_Frame("map" if is_map else "seq", {} if is_map else [], event.anchor))
                total += 1
                if total > MAX_NODES:
                    raise YamlError(
                        f"more than {MAX_NODES} values (anchors and aliases count as what they repeat)", line
                    )
                continue
            else:  # pragma: no cover - every event kind is handled above
                raise YamlError(f"unexpected YAML event {type(event).__name__}", line)

            if not isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                total += count
                if total > MAX_NODES:
                    raise YamlError(
                        f"more than {MAX_NODES} values (anchors and aliases count as what they repeat)", line
                    )
            if not stack:
                docs.append(value)
                continue
            parent = stack[-1]
            parent.nodes += count
            if parent.kind == "seq":
                parent.value.append(value)
            elif parent.key is _NO_KEY:
                if isinstance(event, yaml.AliasEvent) and not isinstance(value, str):
                    raise YamlError("a mapping key must be a plain value, not an alias of a mapping or list", line)
                key = event.value if isinstance(event, yaml.ScalarEvent) else str(value)
                if key == "<<" and isinstance(event, yaml.ScalarEvent) and event.implicit[0]:
                    raise YamlError(
                        f"merge keys ('<<') are not supported; write the keys out (at {_key_path(stack, key)})", line
                    )
                if key in parent.first_line:
                    first = parent.first_line[key]
                    raise YamlError(
                        f"duplicate key {_short(key)} (first given on line {first}; key path {_key_path(stack, key)})",
                        line,
                    )
                parent.first_line[key] = line
                parent.key, parent.key_line = key, line
            else:
                parent.value[parent.key] = value
                parent.key = _NO_KEY
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None
    except RecursionError:  # pragma: no cover - the parser is iterative; kept as a last guard
        raise YamlError(f"nested more than {MAX_DEPTH} levels deep") from None
    if multi:
        return docs
    return docs[0] if docs else None


def read_yaml(path: Path | str, *, multi: bool = False) -> Any:
    """Read and parse a YAML file defensively (see the module docstring). Raises YamlError or OSError."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlError(f"the file is larger than the {MAX_BYTES} bytes meshbridge reads")
    return load_yaml(data, multi=multi)
