"""A reader for the YAML subset GitHub workflow files use: block mappings and sequences, quoted and plain
scalars, `|` / `>` block scalars, flow `[a, b]` / `{a: b}`, comments. Scalars stay strings.

Not a general YAML parser (no anchors, tags or multi-line plain scalars); enough to find `on.schedule`, env and
the `run` scripts of steps without adding a dependency.
"""

from __future__ import annotations

import json
import re
from typing import Any


class YamlError(ValueError):
    pass


_KEY = re.compile(r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[{][^#]*?)\s*:(?:\s+|$)(?P<rest>.*)$""")


def loads(text: str) -> Any:
    lines: list[tuple[int, str]] = []
    for raw in text.replace("\t", "    ").splitlines():
        if raw.strip() in ("---", "..."):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.rstrip()))
    reader = _Reader(lines)
    start = reader.skip_blank(0)
    if start >= len(lines):
        return None
    value, _ = reader.block(start, lines[start][0])
    return value


def _strip_comment(text: str) -> str:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or text[i - 1] in " [{,:"):
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


class _Reader:
    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines

    def content(self, i: int) -> str:
        indent, raw = self.lines[i]
        return _strip_comment(raw[indent:])

    def skip_blank(self, i: int) -> int:
        while i < len(self.lines) and not self.content(i):
            i += 1
        return i

    def block(self, i: int, indent: int) -> tuple[Any, int]:
        text = self.content(i)
        if text == "-" or text.startswith("- "):
            return self.sequence(i, indent)
        return self.mapping(i, indent)

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        while True:
            i = self.skip_blank(i)
            if i >= len(self.lines) or self.lines[i][0] < indent:
                return out, i
            if self.lines[i][0] > indent:
                raise YamlError(f"line {i + 1}: unexpected indentation")
            text = self.content(i)
            match = _KEY.match(text)
            if not match or text.startswith("- "):
                raise YamlError(f"line {i + 1}: expected 'key: value'")
            key = _scalar(match.group("key").strip())
            value, i = self.value_after(i, indent, match.group("rest").strip())
            out[str(key)] = value

    def value_after(self, i: int, indent: int, rest: str) -> tuple[Any, int]:
        if rest and rest[0] in "|>":
            return self.block_scalar(i, indent, rest)
        if rest:
            return _scalar(rest), i + 1
        nxt = self.skip_blank(i + 1)
        if nxt < len(self.lines):
            child_indent = self.lines[nxt][0]
            child = self.content(nxt)
            if child_indent > indent or (child_indent == indent and (child == "-" or child.startswith("- "))):
                return self.block(nxt, child_indent)
        return None, i + 1

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        while True:
            i = self.skip_blank(i)
            if i >= len(self.lines) or self.lines[i][0] != indent:
                return out, i
            text = self.content(i)
            if not (text == "-" or text.startswith("- ")):
                return out, i
            rest = text[1:].lstrip(" ")
            if not rest:
                value, i = self.value_after(i, indent, "")
                out.append(value)
                continue
            offset = indent + (len(text) - len(rest))
            if _KEY.match(rest) or _quoted_key(rest):
                # `- key: value` starts a mapping whose keys sit where `key` sits.
                _, raw = self.lines[i]
                self.lines[i] = (offset, " " * offset + raw[offset:])
                value, i = self.mapping(i, offset)
            elif rest[0] in "|>":
                value, i = self.block_scalar(i, indent, rest)
            else:
                value, i = _scalar(rest), i + 1
            out.append(value)

    def block_scalar(self, i: int, indent: int, header: str) -> tuple[str, int]:
        folded = header[0] == ">"
        chomp = "-" if "-" in header else ("+" if "+" in header else "")
        body: list[str] = []
        j = i + 1
        block_indent = None
        while j < len(self.lines):
            line_indent, raw = self.lines[j]
            if raw.strip():
                if line_indent <= indent:
                    break
                if block_indent is None:
                    block_indent = line_indent
                body.append(raw[min(block_indent, line_indent) :])
            else:
                body.append("")
            j += 1
        while body and not body[-1] and chomp != "+":
            body.pop()
        text = " ".join(body) if folded else "\n".join(body)
        if chomp != "-" and text:
            text += "\n"
        return text, j


def _quoted_key(text: str) -> bool:
    return bool(re.match(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')\s*:(\s|$)""", text))


def _scalar(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text[0] == '"' and text.endswith('"') and len(text) >= 2:
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    if text[0] == "'" and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text[0] == "[" and text.endswith("]"):
        return [_scalar(part) for part in _split_flow(text[1:-1]) if part.strip()]
    if text[0] == "{" and text.endswith("}"):
        out: dict[str, Any] = {}
        for part in _split_flow(text[1:-1]):
            if ":" in part:
                key, _, value = part.partition(":")
                out[str(_scalar(key))] = _scalar(value)
        return out
    if text in ("~", "null"):
        return None
    return text


def _split_flow(text: str) -> list[str]:
    parts, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return parts
