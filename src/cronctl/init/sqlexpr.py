"""Read a pg_cron command with PostgreSQL's own parser (pglast, libpg_query) and evaluate the parts that matter.

The statement is parsed, never executed. Constant expressions are evaluated: string and number literals, casts,
`||`, arithmetic, `format()`, `concat()`, `coalesce()`, `jsonb_build_object` / `json_build_object`,
`jsonb_build_array`, `'{…}'::jsonb`, named (`:=`, `=>`) and positional arguments, and sub-selects without FROM
(`(select supabase_url() || '/functions/v1/x')`). Values that live inside the database become `${VAR}`
references: `get_secret('k')`, `current_setting('app.k')`, Vault (`vault.decrypted_secrets`), a table lookup,
or a call of the project's own function (`supabase_url()` -> `${SUPABASE_URL}`). Anything else is `Unknown`:
the caller turns it into a variable and a note, never a guess and never a crash.

The request sent is told by the function called: `net.http_post` / `net.http_get` / `net.http_delete` are
pg_net (asynchronous: the answer lands in net._http_response); `http_post(url, content, content_type)`,
`http_get(url)`, `http((…)::http_request)` and `extensions.http_*` are pgsql-http (synchronous: the answer is the
statement's result, so pg_cron's own status is the outcome). Anything else is plain SQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from cronctl.init.draft import REFERENCE, env_name

PG_NET_FUNCTIONS = {"http_post": "POST", "http_get": "GET", "http_delete": "DELETE"}
HTTP_EXT_FUNCTIONS = {
    "http_post": "POST",
    "http_get": "GET",
    "http_put": "PUT",
    "http_patch": "PATCH",
    "http_delete": "DELETE",
    "http_head": "HEAD",
    "http": None,  # http(('POST', url, headers, content_type, content)::http_request)
}
_PG_NET_POSITIONAL = {
    "POST": ("url", "body", "params", "headers", "timeout_milliseconds"),
    "GET": ("url", "params", "headers", "timeout_milliseconds"),
    "DELETE": ("url", "params", "headers", "timeout_milliseconds"),
}
_PG_NET_NAMES = {"url", "body", "params", "headers", "timeout_milliseconds"}
_NOW = {"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "current_timestamp",
        "current_date", "localtimestamp", "random", "gen_random_uuid", "uuid_generate_v4", "timeofday"}  # fmt: skip


@dataclass(frozen=True)
class Unknown:
    """A value init cannot compute from the text: `what` says what it is, without any literal in it."""

    what: str
    env_hint: str | None = None  # a variable name suggested by the expression (a function's name)
    from_table: bool = False  # read from a table: the variable is a guess, the job is written for review


@dataclass
class Refs:
    """References to values inside the database met while reading, and the variables chosen for them."""

    table_keys: dict[str, str] = field(default_factory=dict)  # cron_secrets key (get_secret) -> env name
    other: dict[str, str] = field(default_factory=dict)  # what was read (setting, Vault secret, fn) -> env name


@dataclass
class Command:
    """What a cron.job command does."""

    kind: str  # pg_net | pgsql-http | sql | unparsed
    method: str = "POST"
    args: dict[str, Any] = field(default_factory=dict)
    refs: Refs = field(default_factory=Refs)
    function: str = ""  # the HTTP function as called (schema-qualified when it was)
    description: str = ""  # the SQL with every literal replaced: safe to write
    statements: int = 0
    problem: str = ""  # why the text could not be read (never quotes it)
    guessed: set[str] = field(default_factory=set)  # variables for values read from tables (to review)


def describe_sql(sql: str, limit: int = 100) -> str:
    """The statement on one line, comments dropped and every string constant that could be a credential
    (secret-shaped, long, or set with set_config) replaced by '…': safe to write as a description."""
    try:
        from pglast.parser import scan

        tokens = scan(sql)
    except Exception:
        return "(SQL that PostgreSQL's parser cannot read)"
    from cronctl.init.draft import SECRET_NAME, looks_secret

    pieces: list[str] = []
    at = 0
    previous = ""
    for token in tokens:
        start, end = token.start, token.end + 1
        text = sql[start:end]
        pieces.append(sql[at:start])
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            pieces.append(" ")
        elif token.name in ("SCONST", "USCONST", "BCONST", "XCONST"):
            inner = _unquote(text)
            risky = looks_secret(inner) or len(inner) > 24 or bool(SECRET_NAME.search(previous)) or "$" in text[:1]
            pieces.append("'…'" if risky else text)
            previous = inner
        else:
            pieces.append(text)
            if token.name != "ASCII_44":
                previous = text
        at = end
    flat = " ".join("".join(pieces).split()).rstrip(";").strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _unquote(text: str) -> str:
    if text[:1] in "EeBbXxUu" and text[1:2] == "'":
        text = text[1:]
    if text.startswith("$"):
        tag_end = text.find("$", 1) + 1
        return text[tag_end:-tag_end] if tag_end > 0 else text
    return text[1:-1].replace("''", "'") if len(text) >= 2 else text


def read_command(sql: str, extensions: frozenset[str] | None = None) -> Command:
    """Parse `sql` and find the HTTP request it sends, if any. `extensions` are the installed ones (None when
    not known): an unqualified `http_post` is pgsql-http unless only pg_net is installed."""
    description = describe_sql(sql)
    try:
        from pglast import parse_sql

        statements = parse_sql(sql)
    except Exception:
        return Command(
            "unparsed",
            description="(SQL that PostgreSQL's parser cannot read)",
            problem="PostgreSQL's parser cannot read the command",
        )
    evaluator = Evaluator()
    for call in _calls(statements):
        schema, name = _func_name(call)
        kind = _http_kind(schema, name, call, extensions)
        if kind is None:
            continue
        command = _http_command(evaluator, call, kind, schema, name)
        command.guessed = evaluator.guessed
        command.description = description
        command.statements = len(statements)
        return command
    return Command("sql", description=description, statements=len(statements), refs=evaluator.refs)


def _calls(node: Any) -> list[Any]:
    """Every FuncCall in the tree, outermost first, in text order."""
    from pglast import ast

    found: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, tuple | list):
            for child in item:
                walk(child)
            return
        if not isinstance(item, ast.Node):
            return
        if isinstance(item, ast.FuncCall):
            found.append(item)
        for name in item:
            walk(getattr(item, name))

    walk(node)
    return found


def _func_name(call: Any) -> tuple[str | None, str]:
    names = [getattr(part, "sval", "") for part in call.funcname or ()]
    names = [str(n).lower() for n in names]
    return (names[-2] if len(names) >= 2 else None), (names[-1] if names else "")


def _http_kind(schema: str | None, name: str, call: Any, extensions: frozenset[str] | None) -> str | None:
    if schema == "net" and name in PG_NET_FUNCTIONS:
        return "pg_net"
    if name not in HTTP_EXT_FUNCTIONS:
        return None
    named = {getattr(arg, "name", None) for arg in call.args or ()} - {None}
    if schema is None and name in PG_NET_FUNCTIONS and named & _PG_NET_NAMES:
        return "pg_net"  # `url :=`, `headers :=` are pg_net's parameter names
    if schema is None and extensions is not None and "http" not in extensions:
        return "pg_net" if "pg_net" in extensions and name in PG_NET_FUNCTIONS else None
    if name == "http" and schema not in (None, "extensions", "public"):
        return None
    return "pgsql-http"


def _http_command(evaluator: Evaluator, call: Any, kind: str, schema: str | None, name: str) -> Command:
    from pglast import ast

    function = f"{schema}.{name}" if schema else name
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for arg in call.args or ():
        if isinstance(arg, ast.NamedArgExpr):
            named[str(arg.name).lower()] = evaluator.value(arg.arg)
        else:
            positional.append(evaluator.value(arg))
    if kind == "pg_net":
        method = PG_NET_FUNCTIONS[name]
        order = _PG_NET_POSITIONAL[method]
        args = {order[i] if i < len(order) else f"arg{i}": v for i, v in enumerate(positional)}
        args.update(named)
        return Command("pg_net", method, args, evaluator.refs, function)
    ext_method = HTTP_EXT_FUNCTIONS[name]
    if ext_method is None:
        return _http_request(evaluator, call, function)
    method = ext_method
    order = ("url", "content", "content_type") if method in ("POST", "PUT", "PATCH") else ("url",)
    args = {order[i] if i < len(order) else f"arg{i}": v for i, v in enumerate(positional)}
    args.update({("url" if k == "uri" else k): v for k, v in named.items()})
    return Command("pgsql-http", method, args, evaluator.refs, function)


def _http_request(evaluator: Evaluator, call: Any, function: str) -> Command:
    """pgsql-http's `http((method, uri, headers, content_type, content)::http_request)`."""
    from pglast import ast

    args: dict[str, Any] = {}
    method = "GET"
    target = call.args[0] if call.args else None
    while isinstance(target, ast.TypeCast):
        target = target.arg
    if isinstance(target, ast.RowExpr) and target.args:
        fields = list(target.args)
        values = [evaluator.value(f) for f in fields]
        if isinstance(values[0], str):
            method = values[0].upper()
        names = ("method", "url", "headers", "content_type", "content")
        args = {names[i]: v for i, v in enumerate(values) if i < len(names)}
        if len(fields) > 2:
            args["headers"] = evaluator.http_headers(fields[2])
    else:
        args["url"] = Unknown("an http_request value built elsewhere")
    return Command("pgsql-http", method, args, evaluator.refs, function)


class Evaluator:
    def __init__(self) -> None:
        self.refs = Refs()
        self.guessed: set[str] = set()  # variables standing for values read from tables: to be reviewed

    # -- entry point

    def value(self, node: Any) -> Any:
        from pglast import ast

        if isinstance(node, ast.A_Const):
            return self._const(node)
        if isinstance(node, ast.TypeCast):
            return self._cast(self.value(node.arg), node.typeName)
        if isinstance(node, ast.A_Expr):
            return self._operator(node)
        if isinstance(node, ast.FuncCall):
            return self._call(node)
        if isinstance(node, ast.SubLink):
            return self._sublink(node)
        if isinstance(node, ast.CoalesceExpr):
            return self._coalesce([self.value(a) for a in node.args or ()])
        if isinstance(node, ast.A_ArrayExpr):
            return [self.value(e) for e in node.elements or ()]
        if isinstance(node, ast.ColumnRef):
            return Unknown("a column value", _column_hint(node), from_table=True)
        if isinstance(node, ast.SQLValueFunction):
            return Unknown("the time of the run")
        if isinstance(node, ast.ParamRef):
            return Unknown("a parameter")
        return Unknown(f"a {type(node).__name__} expression")

    # -- pieces

    @staticmethod
    def _const(node: Any) -> Any:
        if getattr(node, "isnull", False):
            return None
        val = node.val
        kind = type(val).__name__
        if kind == "String":
            return str(val.sval)
        if kind == "Integer":
            return int(val.ival)
        if kind == "Float":
            text = str(val.fval)
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        if kind == "Boolean":
            return bool(val.boolval)
        return Unknown("a bit-string constant")

    def _cast(self, value: Any, type_name: Any) -> Any:
        names = [str(getattr(n, "sval", "")).lower() for n in (type_name.names or ())]
        target = names[-1] if names else ""
        if isinstance(value, Unknown):
            return value
        if target in ("jsonb", "json"):
            if isinstance(value, str) and "${" not in value:
                try:
                    return json.loads(value)
                except ValueError:
                    return Unknown("a string that is not valid JSON")
            return value
        if target in ("text", "varchar", "bpchar", "name", "character varying"):
            return value if isinstance(value, str) or value is None else _text(value)
        if target in ("int2", "int4", "int8", "integer", "bigint", "smallint", "numeric"):
            try:
                return int(value) if not isinstance(value, bool) else Unknown("a boolean cast to a number")
            except (TypeError, ValueError):
                return Unknown("a value cast to a number")
        return value

    def _operator(self, node: Any) -> Any:
        op = "".join(str(getattr(n, "sval", "")) for n in (node.name or ()))
        left = self.value(node.lexpr) if node.lexpr is not None else None
        right = self.value(node.rexpr) if node.rexpr is not None else None
        if op == "||":
            left, right = self._named(left), self._named(right)
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return left if isinstance(left, Unknown) else right
        if op == "||":
            if isinstance(left, dict) and isinstance(right, dict):
                return {**left, **right}
            if isinstance(left, list) and isinstance(right, list):
                return left + right
            if left is None or right is None:
                return None  # NULL || anything is NULL
            if isinstance(left, dict | list) or isinstance(right, dict | list):
                return Unknown("a JSON value joined with text")
            return _text(left) + _text(right)
        if _number(left) and _number(right):
            a: Any = left
            b: Any = right
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/" and b:
                return a // b if isinstance(a, int) and isinstance(b, int) else a / b
        return Unknown(f"an expression with the {op or '?'} operator")

    def _named(self, value: Any) -> Any:
        """Inside `a || b`, an unknown part with a name of its own becomes `${NAME}` so the rest is kept."""
        if not isinstance(value, Unknown) or not value.env_hint:
            return value
        self.refs.other[value.what] = value.env_hint
        if value.from_table:
            self.guessed.add(value.env_hint)
        return "${" + value.env_hint + "}"

    def _call(self, node: Any) -> Any:
        schema, name = _func_name(node)
        args = [self.value(a) for a in node.args or ()]
        if name == "get_secret" and len(args) == 1 and isinstance(args[0], str):
            env = env_name(args[0])
            self.refs.table_keys[args[0]] = env
            return "${" + env + "}"
        if name == "current_setting" and args and isinstance(args[0], str):
            env = env_name(args[0].rsplit(".", 1)[-1])
            self.refs.other[f"setting {args[0]}"] = env
            return "${" + env + "}"
        if name in ("jsonb_build_object", "json_build_object"):
            # A key holding a reference came from get_secret() or current_setting(): its name is not known.
            if len(args) % 2 == 0 and all(isinstance(k, str) and not REFERENCE.search(k) for k in args[0::2]):
                return dict(zip(args[0::2], args[1::2], strict=True))
            return Unknown("an object whose keys are computed")
        if name in ("jsonb_build_array", "json_build_array"):
            return list(args)
        if name in ("to_jsonb", "to_json") and len(args) == 1:
            return args[0]
        if name in ("concat", "concat_ws") and args:
            return self._concat(name, args)
        if name == "format" and args and isinstance(args[0], str):
            return _format(args[0], args[1:])
        if name == "coalesce":
            return self._coalesce(args)
        if name in ("trim", "btrim", "rtrim", "ltrim") and len(args) == 1 and isinstance(args[0], str):
            return args[0] if "${" in args[0] else {"trim": str.strip, "btrim": str.strip, "rtrim": str.rstrip,
                                                     "ltrim": str.lstrip}[name](args[0])  # fmt: skip
        if name in _NOW:
            return Unknown("a value computed when the job runs")
        qualified = f"{schema}.{name}" if schema else name
        if not args and schema not in ("pg_catalog", "net", "cron"):
            # The project's own function (supabase_url(), get_service_key()): its name says what it returns.
            env = env_name(re.sub(r"^(get|fn|f)_", "", name))
            self.refs.other[f"function {qualified}()"] = env
            return "${" + env + "}"
        return Unknown(f"a call of {qualified}()", env_name(re.sub(r"^(get|fn|f)_", "", name)))

    def _concat(self, name: str, args: list[Any]) -> Any:
        sep = ""
        if name == "concat_ws":
            if not isinstance(args[0], str):
                return Unknown("concat_ws with a computed separator")
            sep, args = args[0], args[1:]
        if any(isinstance(a, Unknown | dict | list) for a in args):
            return Unknown("a concatenation of computed values")
        return sep.join(_text(a) for a in args if a is not None)

    @staticmethod
    def _coalesce(args: list[Any]) -> Any:
        for value in args:
            if value is None:
                continue
            return value
        return None

    def _sublink(self, node: Any) -> Any:
        from pglast import ast

        select = node.subselect
        if not isinstance(select, ast.SelectStmt) or not select.targetList or len(select.targetList) != 1:
            return Unknown("a sub-select")
        target = select.targetList[0].val
        tables = [_range_name(r) for r in (select.fromClause or ())]
        if not tables:
            return self.value(target)
        if len(tables) == 1 and tables[0] is not None:
            schema, table = tables[0]
            key = _where_key(select.whereClause)
            column = _column_hint(target) if isinstance(target, ast.ColumnRef) else None
            if schema == "vault" and table in ("decrypted_secrets", "secrets") and key:
                env = env_name(key)
                self.refs.other[f"Vault secret '{key}'"] = env
                return "${" + env + "}"
            if key:
                env = env_name(key)
                self.refs.other[f"{schema + '.' if schema else ''}{table} row '{key}'"] = env
                return "${" + env + "}"
            return Unknown(f"a value read from table {table}", column or env_name(table), from_table=True)
        return Unknown("a value read from several tables", from_table=True)

    def http_headers(self, node: Any) -> Any:
        """pgsql-http headers: ARRAY[http_header('k', 'v'), …] -> {k: v}."""
        from pglast import ast

        while isinstance(node, ast.TypeCast):
            node = node.arg
        if isinstance(node, ast.A_ArrayExpr):
            out: dict[str, Any] = {}
            for element in node.elements or ():
                if isinstance(element, ast.FuncCall) and _func_name(element)[1] == "http_header":
                    pair = [self.value(a) for a in element.args or ()]
                    if len(pair) == 2 and isinstance(pair[0], str):
                        out[pair[0]] = pair[1]
                        continue
                return Unknown("headers built from computed values")
            return out
        value = self.value(node)
        return value if isinstance(value, list | Unknown) or value is None else Unknown("headers of another shape")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _format(template: str, args: list[Any]) -> Any:
    out: list[str] = []
    index = 0
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        spec = template[i + 1 : i + 2]
        i += 2
        if spec == "%":
            out.append("%")
            continue
        if spec not in ("s", "I", "L") or index >= len(args):
            return Unknown("a format() with a pattern it does not read")
        arg = args[index]
        index += 1
        if isinstance(arg, Unknown | dict | list):
            return Unknown("a format() of computed values")
        text = _text(arg)
        if spec == "L":
            text = "NULL" if arg is None else "'" + text.replace("'", "''") + "'"
        elif spec == "I":
            text = text if re.fullmatch(r"[a-z_][a-z0-9_$]*", text) else '"' + text.replace('"', '""') + '"'
        out.append(text)
    return "".join(out)


def _range_name(node: Any) -> tuple[str | None, str] | None:
    from pglast import ast

    if isinstance(node, ast.RangeVar):
        return (str(node.schemaname).lower() if node.schemaname else None), str(node.relname).lower()
    return None


def _column_hint(node: Any) -> str | None:
    fields = [getattr(f, "sval", None) for f in (node.fields or ())]
    names = [str(f) for f in fields if f]
    return env_name(names[-1]) if names else None


def _where_key(node: Any) -> str | None:
    """'k' from `WHERE name = 'k'` (or `key = 'k'`): the identifier a secret row is looked up by."""
    from pglast import ast

    if not isinstance(node, ast.A_Expr):
        return None
    op = "".join(str(getattr(n, "sval", "")) for n in (node.name or ()))
    if op != "=":
        return None
    for side in (node.rexpr, node.lexpr):
        if isinstance(side, ast.A_Const) and type(side.val).__name__ == "String":
            key = str(getattr(side.val, "sval", ""))
            if re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", key):
                return key
    return None
