"""A small reader for the SQL expressions pg_cron commands pass to net.http_post / net.http_get.

It understands string literals, `||`, casts, numbers, booleans, `jsonb_build_object` / `jsonb_build_array`,
`'{...}'::jsonb`, `get_secret('x')`, `current_setting('app.x')` and Vault lookups. Anything else becomes an
`Unknown` holding its SQL text, so the caller can write a TODO instead of guessing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<string>[Ee]?'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")
  | (?P<op>\|\||::|:=|=>|[(),.;\[\]=<>+*/%-])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_VAULT = re.compile(
    r"select\s+decrypted_secret\s+from\s+vault\.decrypted_secrets\s+where\s+name\s*=\s*'([^']+)'", re.IGNORECASE
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Unknown:
    sql: str


@dataclass
class Refs:
    """Secret references met while reading: `get_secret` keys and the env names chosen for them."""

    table_keys: dict[str, str] = field(default_factory=dict)  # cron_secrets key -> env name
    other: dict[str, str] = field(default_factory=dict)  # setting / vault name -> env name


def tokenize(sql: str) -> list[Token]:
    out = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind == "tag":
            kind = "dollar"
        if kind == "ws":
            continue
        out.append(Token(kind, m.group(0), m.start(), m.end()))
    return out


def _unquote(text: str) -> str:
    if text[:1] in "Ee":
        text = text[1:]
    return text[1:-1].replace("''", "'")


def _dollar_body(text: str) -> str:
    tag_end = text.index("$", 1) + 1
    return text[tag_end:-tag_end]


def _env_for(name: str) -> str:
    from cronctl.init.draft import env_name

    return env_name(name.rsplit(".", 1)[-1])


class Parser:
    def __init__(self, sql: str, refs: Refs) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.pos = 0
        self.refs = refs

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.text.lower() == text

    def find_call(self, names: tuple[str, ...]) -> str | None:
        """Move to just after `<name>(` for the first call of one of `names`; return the name found."""
        while self.pos < len(self.tokens):
            dotted = self._dotted_name_here()
            if dotted and dotted[0] in names and self.at("(", dotted[1]):
                self.pos += dotted[1] + 1
                return dotted[0]
            self.pos += 1
        return None

    def _dotted_name_here(self) -> tuple[str, int] | None:
        parts, n = [], 0
        while True:
            token = self.peek(n)
            if token is None or token.kind != "ident":
                return None
            parts.append(token.text.strip('"').lower())
            n += 1
            if not self.at(".", n):
                return ".".join(parts), n
            n += 1

    def arguments(self) -> list[tuple[str | None, Any]]:
        """Arguments up to the closing parenthesis (consumed); names for `name := value` / `name => value`."""
        args: list[tuple[str | None, Any]] = []
        if self.at(")"):
            self.take()
            return args
        while self.pos < len(self.tokens):
            name = None
            token = self.peek()
            if token is not None and token.kind == "ident" and (self.at(":=", 1) or self.at("=>", 1)):
                name = token.text.strip('"').lower()
                self.pos += 2
            args.append((name, self.expression()))
            if self.at(","):
                self.take()
                continue
            if self.at(")"):
                self.take()
            break
        return args

    def expression(self) -> Any:
        start = self.pos
        parts = [self.primary()]
        while self.at("||"):
            self.take()
            parts.append(self.primary())
        if self.peek() is not None and not (self.at(",") or self.at(")") or self.at(";")):
            # An operator we do not evaluate: keep the whole expression as SQL text.
            self._skip_to_boundary()
            return Unknown(self._text(start, self.pos))
        if len(parts) == 1:
            return parts[0]
        if any(isinstance(p, Unknown | dict | list) for p in parts):
            return Unknown(self._text(start, self.pos))
        return "".join("" if p is None else str(p) for p in parts)

    def _text(self, start: int, end: int) -> str:
        if start >= end:
            return ""
        return self.sql[self.tokens[start].start : self.tokens[end - 1].end]

    def _skip_to_boundary(self) -> None:
        depth = 0
        while self.pos < len(self.tokens):
            text = self.peek().text  # type: ignore[union-attr]
            if depth == 0 and text in (",", ")", ";"):
                return
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
            self.pos += 1

    def _casts(self) -> str | None:
        cast = None
        while self.at("::"):
            self.take()
            if self.peek() is not None and self.peek().kind == "ident":  # type: ignore[union-attr]
                cast = self.take().text.lower()
            while self.at("[") or self.at("]"):
                self.take()
        return cast

    def primary(self) -> Any:
        token = self.peek()
        if token is None:
            return Unknown("")
        start = self.pos
        if token.kind in ("string", "dollar"):
            self.take()
            value: Any = _unquote(token.text) if token.kind == "string" else _dollar_body(token.text)
            if self._casts() in ("jsonb", "json"):
                try:
                    return json.loads(value)
                except ValueError:
                    return Unknown(self._text(start, self.pos))
            return value
        if token.kind == "number":
            self.take()
            self._casts()
            return float(token.text) if "." in token.text else int(token.text)
        if token.text == "(":
            return self._parenthesised(start)
        if token.kind == "ident":
            return self._name_or_call(start)
        self._skip_to_boundary()
        return Unknown(self._text(start, self.pos))

    def _parenthesised(self, start: int) -> Any:
        self.take()
        if self.at("select"):
            depth = 1
            while self.pos < len(self.tokens) and depth:
                text = self.take().text
                depth += {"(": 1, ")": -1}.get(text, 0)
            raw = self._text(start, self.pos)
            self._casts()
            vault = _VAULT.search(raw)
            if vault:
                env = _env_for(vault.group(1))
                self.refs.other[vault.group(1)] = env
                return "${" + env + "}"
            return Unknown(raw)
        value = self.expression()
        if self.at(")"):
            self.take()
        self._casts()
        return value

    def _name_or_call(self, start: int) -> Any:
        dotted = self._dotted_name_here()
        assert dotted is not None
        name, length = dotted
        self.pos += length
        if not self.at("("):
            self._casts()
            return {"true": True, "false": False, "null": None}.get(name, Unknown(self._text(start, self.pos)))
        self.take()
        args = [value for _, value in self.arguments()]
        raw = self._text(start, self.pos)
        self._casts()
        return self._call(name.rsplit(".", 1)[-1], args, raw)

    def _call(self, func: str, args: list[Any], raw: str) -> Any:
        if func == "get_secret" and len(args) == 1 and isinstance(args[0], str):
            env = _env_for(args[0])
            self.refs.table_keys[args[0]] = env
            return "${" + env + "}"
        if func == "current_setting" and args and isinstance(args[0], str):
            env = _env_for(args[0])
            self.refs.other[args[0]] = env
            return "${" + env + "}"
        pairs = len(args) % 2 == 0 and all(isinstance(k, str) for k in args[0::2])
        if func in ("jsonb_build_object", "json_build_object") and pairs:
            return dict(zip(args[0::2], args[1::2], strict=True))
        if func in ("jsonb_build_array", "json_build_array"):
            return list(args)
        if func in ("to_jsonb", "to_json") and len(args) == 1:
            return args[0]
        if func == "concat" and all(isinstance(a, str) or a is None for a in args):
            return "".join(a or "" for a in args)
        return Unknown(raw)


def http_call(sql: str) -> tuple[str, dict[str, Any], Refs] | None:
    """(method, arguments by name, secret refs) of the first net.http_post / net.http_get call, or None."""
    refs = Refs()
    parser = Parser(sql, refs)
    found = parser.find_call(("net.http_post", "net.http_get", "http_post", "http_get"))
    if found is None:
        return None
    method = "POST" if found.endswith("post") else "GET"
    positional = (
        ("url", "body", "params", "headers", "timeout_milliseconds")
        if method == "POST"
        else ("url", "params", "headers", "timeout_milliseconds")
    )
    named: dict[str, Any] = {}
    for index, (name, value) in enumerate(parser.arguments()):
        key = name or (positional[index] if index < len(positional) else f"arg{index}")
        named[key] = value
    return method, named, refs
