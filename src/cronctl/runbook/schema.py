"""The runbook schema, read off the model: the keys of every table and the words of every closed vocabulary.

Each field of a model dataclass (runbook/model.py) is a key of its table, spelled like the field, so adding a
field is what adds a runbook key (the loader's reader of that table then reads its value). Field metadata says
where that is not so:

- `not_written()`: the loader fills the field (a named table's name, the file's path); no runbook writes it;
- `in_table("runbook")`: the key lives in a sub-table of its own (`[runbook] name`);
- `one_of(...)`: the value (each value, for a table of strings) is a word of a closed vocabulary;
- `keyed_by(...)`: the keys of the sub-table are words of a closed vocabulary (`statuses.failed = [...]`);
- `keys_of(...)`: the field is no key itself: it maps keys of its table, each one of a set of names, to what the
  loader read from them (`history = { github = true }`: the history sources outside the database);
- `tables_of(...)`: the field maps tables `[<name>]` to the dataclasses they are read into, each declared by the
  module that reads it (a history source's `[vercel]`); `keys()` leaves them out (the loader asks only for the
  tables a runbook writes), `tables()` includes them;
- `env_name()`, `duration(...)`: how a table read by its dataclass alone (runbook.loader) checks a value.

A field typed as a model dataclass is a nested table, `dict[str, <dataclass>]` a table of named tables and
`tuple[<dataclass>, ...]` an array of tables. The loader asks `keys()`, `vocabulary()`, `default()` and the other
questions about one field, which read `dataclasses.fields` only; `tables()` walks the whole tree (documentation and
tests) from the type hints.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

_META = "cronctl.runbook.schema"

# Plain classes, not dataclasses: the model imports this module at start-up, and making a dataclass takes ~0.5 ms.


class Vocabulary:
    """A closed set of words, e.g. the lock backends."""

    __slots__ = ("noun", "words")

    def __init__(self, noun: str, words: tuple[str, ...]) -> None:
        self.noun = noun  # "a failure group": errors read "'AUTHH' is not a failure group; did you mean 'AUTH'?"
        self.words = words

    def __repr__(self) -> str:
        return f"Vocabulary({self.noun!r}, {self.words!r})"

    def problem(self, value: str, extra: Iterable[str] = ()) -> str | None:
        """Why `value` is no word of this vocabulary (or of `extra`), naming the closest word; None when it is one."""
        words = [*self.words, *extra]
        if value in words:
            return None
        same_but_case = [word for word in words if word.casefold() == value.casefold()]
        close = same_but_case or difflib.get_close_matches(value, words, n=1)
        if close:
            # The guess may be wrong (`integer` is closest to `interval`, not `int`): the words follow it.
            return f"'{value}' is not {self.noun}; did you mean '{close[0]}'? (one of: {', '.join(words)})"
        return f"'{value}' is not one of: {', '.join(words)}"


class _Key:
    __slots__ = ("at_most", "env_name", "key_words", "named_keys", "sections", "table", "words", "written")

    def __init__(
        self,
        written: bool = True,
        table: str | None = None,
        words: Vocabulary | None = None,
        key_words: Vocabulary | None = None,
        named_keys: tuple[str, ...] | None = None,
        sections: Callable[[], Mapping[str, type]] | None = None,
        env_name: bool = False,
        at_most: float | None = None,
    ) -> None:
        self.written = written
        self.table = table
        self.words = words
        self.key_words = key_words
        self.named_keys = named_keys
        self.sections = sections
        self.env_name = env_name
        self.at_most = at_most


_PLAIN_KEY = _Key()


def not_written() -> dict[str, Any]:
    """Field metadata: the loader fills this field; it is no key of the runbook."""
    return {_META: _Key(written=False)}


def in_table(name: str) -> dict[str, Any]:
    """Field metadata: the key is written in the sub-table `name` of this table."""
    return {_META: _Key(table=name)}


def one_of(noun: str, words: Iterable[str]) -> dict[str, Any]:
    """Field metadata: the value is one of `words`."""
    return {_META: _Key(words=Vocabulary(noun, tuple(words)))}


def keyed_by(noun: str, words: Iterable[str]) -> dict[str, Any]:
    """Field metadata: the keys of this sub-table are `words`."""
    return {_META: _Key(key_words=Vocabulary(noun, tuple(words)))}


def keys_of(names: Iterable[str]) -> dict[str, Any]:
    """Field metadata: the field maps keys of its table, each one of `names`, to what the loader read from them."""
    return {_META: _Key(named_keys=tuple(names))}


def tables_of(sections: Callable[[], Mapping[str, type]]) -> dict[str, Any]:
    """Field metadata: the field maps tables `[<name>]` to what they were read into, the dataclass `sections()`
    gives for the name (called only by `tables()`: it may import every module declaring one)."""
    return {_META: _Key(sections=sections)}


def env_name() -> dict[str, Any]:
    """Field metadata: the value names an environment variable."""
    return {_META: _Key(env_name=True)}


def duration(at_most: float) -> dict[str, Any]:
    """Field metadata: the value is a duration ("20s", "5m") of more than zero and at most `at_most` seconds."""
    return {_META: _Key(at_most=at_most)}


def is_env_name(spec: type, name: str) -> bool:
    """Whether a field's value names an environment variable (`env_name()`)."""
    return _key(_field(spec, name)).env_name


def longest_duration(spec: type, name: str) -> float | None:
    """The longest duration a field takes (`duration()`), None when it is no duration."""
    return _key(_field(spec, name)).at_most


def toml_type(value: Any) -> str:
    """How errors name the TOML type of a value: "boolean", "string", "table", ..."""
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _key(f: dataclasses.Field[Any]) -> _Key:
    key = f.metadata.get(_META, _PLAIN_KEY)
    assert isinstance(key, _Key)
    return key


@functools.cache
def keys(spec: type, table: str | None = None) -> tuple[str, ...]:
    """The keys a runbook may write in a table read into `spec` (in `spec`'s sub-table `table`), in field order."""
    found: list[str] = []
    for f in dataclasses.fields(spec):
        key = _key(f)
        if not key.written or key.sections is not None:
            continue
        if table is None:
            names = key.named_keys or (key.table or f.name,)  # a sub-table is itself a key of this table
        elif key.table == table:
            names = key.named_keys or (f.name,)
        else:
            continue
        found.extend(name for name in names if name not in found)
    return tuple(found)


def _field(spec: type, name: str) -> dataclasses.Field[Any]:
    for f in dataclasses.fields(spec):
        if f.name == name:
            return f
    raise KeyError(f"{spec.__name__} has no field {name}")


def vocabulary(spec: type, name: str) -> Vocabulary:
    """The closed vocabulary of a field's value."""
    words = _key(_field(spec, name)).words
    if words is None:
        raise KeyError(f"{spec.__name__}.{name} has no vocabulary")
    return words


def has_vocabulary(spec: type, name: str) -> bool:
    """Whether a field's value is a word of a closed vocabulary (`one_of`)."""
    return _key(_field(spec, name)).words is not None


def key_vocabulary(spec: type, name: str) -> Vocabulary:
    """The closed vocabulary of the keys of a field's sub-table."""
    words = _key(_field(spec, name)).key_words
    if words is None:
        raise KeyError(f"{spec.__name__}.{name} has no key vocabulary")
    return words


def default(spec: type, name: str) -> Any:
    """The field's default (None when it has none)."""
    f = _field(spec, name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


class Table:
    """One table of the runbook format: where it is written, what it is read into, its keys and their words."""

    __slots__ = ("keys", "path", "spec", "vocabularies")

    def __init__(self, path: str, spec: type, keys: tuple[str, ...], vocabularies: dict[str, Vocabulary]) -> None:
        self.path = path  # "" (the top level), "vercel", "jobs.<name>.history", "failure_modes[]"
        self.spec = spec
        self.keys = keys
        self.vocabularies = vocabularies  # key -> the words its value (or its sub-table's keys) must be

    def __repr__(self) -> str:
        return f"Table({self.path!r}, {self.spec.__name__}, {self.keys!r})"

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


def tables(root: type | None = None, path: str = "") -> Iterator[Table]:
    """Every table of the format, depth first from `root` (default: the whole runbook)."""
    if root is None:
        from cronctl.runbook.model import Runbook

        root = Runbook
    yield _table(root, path, None)
    hints = typing.get_type_hints(root)
    for sub in dict.fromkeys(_key(f).table for f in dataclasses.fields(root) if _key(f).table):
        assert sub is not None
        yield _table(root, f"{path}.{sub}" if path else sub, sub)
    for f in dataclasses.fields(root):
        key = _key(f)
        if key.sections is not None:
            for name, spec in key.sections().items():
                yield from tables(spec, f"{path}.{name}" if path else name)
        if not key.written or key.table is not None:
            continue
        nested = _nested(hints[f.name])
        if nested is not None:
            spec, suffix = nested
            yield from tables(spec, f"{path}.{f.name}{suffix}" if path else f"{f.name}{suffix}")


def _table(spec: type, path: str, sub: str | None) -> Table:
    vocabularies: dict[str, Vocabulary] = {}
    for f in dataclasses.fields(spec):
        key = _key(f)
        if key.written and key.table == sub:
            words = key.words or key.key_words
            if words is not None:
                vocabularies[f.name] = words
    named_tables = tuple(_sections(spec)) if sub is None else ()
    return Table(path, spec, (*keys(spec, sub), *named_tables), vocabularies)


def _sections(spec: type) -> dict[str, type]:
    """The tables `[<name>]` of `spec`'s `tables_of()` fields: name -> dataclass."""
    found: dict[str, type] = {}
    for f in dataclasses.fields(spec):
        sections = _key(f).sections
        if sections is not None:
            found.update(sections())
    return found


def _nested(hint: Any) -> tuple[type, str] | None:
    """(dataclass, path suffix) when a field holds tables: `X` / `X | None`, `dict[str, X]`, `tuple[X, ...]`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if _is_spec(hint):
        return hint, ""
    if origin is dict and len(args) == 2 and _is_spec(args[1]):
        return args[1], ".<name>"
    if origin is tuple and args and _is_spec(args[0]):
        return args[0], "[]"
    if len(args) == 1 and _is_spec(args[0]):  # X | None
        return args[0], ""
    return None


def _is_spec(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)
