"""Tiny JSON predicates for success rules: `success == true`, `summary.processed >= 0`, `not skipped`."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_FORM = re.compile(r"^\s*(not\s+)?([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*(?:(==|!=|>=|<=|>|<)\s*(.+?))?\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


class PredicateError(ValueError):
    pass


@dataclass(frozen=True)
class Predicate:
    text: str
    path: tuple[str, ...]
    op: str | None
    value: Any
    negate: bool

    def holds(self, document: Any) -> bool:
        found = lookup(document, self.path)
        if self.op is None:
            result = found is not _MISSING and bool(found)
        elif found is _MISSING:
            result = self.op == "!="
        else:
            try:
                result = _OPS[self.op](found, self.value)
            except TypeError:
                result = False
        return not result if self.negate else result


def lookup(document: Any, path: tuple[str, ...]) -> Any:
    current = document
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def parse_predicate(text: str) -> Predicate:
    match = _FORM.match(text)
    if not match:
        raise PredicateError(f"'{text}' is not a predicate (write e.g. 'success == true' or 'not skipped')")
    negate, path, op, literal = match.groups()
    value: Any = None
    if op is not None:
        try:
            value = json.loads(literal)
        except json.JSONDecodeError:
            raise PredicateError(f"'{text}': '{literal}' is not a JSON value (strings need double quotes)") from None
    return Predicate(text, tuple(path.split(".")), op, value, bool(negate))


def all_hold(predicates: tuple[str, ...], document: Any) -> tuple[bool, str | None]:
    """Whether every predicate holds, and the first that does not."""
    for text in predicates:
        if not parse_predicate(text).holds(document):
            return False, text
    return True, None


def any_holds(predicates: tuple[str, ...], document: Any) -> str | None:
    for text in predicates:
        if parse_predicate(text).holds(document):
            return text
    return None
