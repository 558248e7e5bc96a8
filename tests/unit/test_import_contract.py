"""The dependency direction of the product: sources → records ← evaluate → reports → output.

Every import of every module under src/cronctl counts, at module level or inside a function (a lazy import is
still a dependency), `import x` and `from x import y` alike. services/ and cli/ coordinate and may import
anything below them; the sandbox (test and demo equipment) is reached only from inside `cronctl demo`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PRODUCT = SRC / "cronctl"

# layer (a package or module of cronctl) → what it must not import, at any depth
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "cronctl.records": (
        "cronctl.sources",
        "cronctl.evaluate",
        "cronctl.reports",
        "cronctl.services",
        "cronctl.cli",
        "cronctl.output",
    ),
    "cronctl.grants": (
        "cronctl.sources",
        "cronctl.evaluate",
        "cronctl.reports",
        "cronctl.services",
        "cronctl.cli",
        "cronctl.output",
    ),
    "cronctl.predicates": (
        "cronctl.sources",
        "cronctl.evaluate",
        "cronctl.reports",
        "cronctl.services",
        "cronctl.cli",
        "cronctl.output",
    ),
    "cronctl.runbook": (
        "cronctl.sources",
        "cronctl.evaluate",
        "cronctl.reports",
        "cronctl.services",
        "cronctl.cli",
        "cronctl.output",
    ),
    "cronctl.sources": ("cronctl.evaluate", "cronctl.reports", "cronctl.services", "cronctl.cli", "cronctl.output"),
    "cronctl.evaluate": ("cronctl.sources", "cronctl.reports", "cronctl.services", "cronctl.cli", "cronctl.output"),
    "cronctl.reports": ("cronctl.sources", "cronctl.services", "cronctl.cli"),
    "cronctl.output": ("cronctl.sources", "cronctl.evaluate", "cronctl.reports", "cronctl.services", "cronctl.cli"),
}
# Extension-point registries: each package's __init__ only names its implementations (it imports no other cronctl
# module at run time), so any layer may read the names from it, e.g. the runbook's vocabulary of lock backends.
# Their implementation modules keep their layer's rules.
# The failure groups' one file (evaluate/classify.py) is the vocabulary of `[[failure_modes]] group` the same way.
REGISTRIES = (
    "cronctl.auth",
    "cronctl.sources.locks",
    "cronctl.sources.external",
    "cronctl.output.formats",
    "cronctl.evaluate.classify",
)
SANDBOX = "cronctl_sandbox"
# The one place the product may reach the sandbox: inside the functions of this module (loaded lazily).
SANDBOX_ENTRY = "cronctl.cli.demo"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports(path: Path) -> Iterator[tuple[int, str, bool]]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(text: str, package: str) -> Iterator[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import in `text`, a module of `package`.
    `from a import b` yields `a.b` too: b may be a module (`from cronctl import evaluate`)."""

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[int, str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, alias.name, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    anchor = parts[: len(parts) - (child.level - 1)]
                    base = ".".join([*anchor, *([child.module] if child.module else [])])
                yield child.lineno, base, in_function
                for alias in child.names:
                    yield child.lineno, f"{base}.{alias.name}", in_function
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from visit(child, inner)

    yield from visit(ast.parse(text), False)


def _registry_names(target: str) -> bool:
    """`cronctl.sources.locks` or a name defined in it (`...locks.names`), not one of its modules."""
    for registry in REGISTRIES:
        if target == registry:
            return True
        if target.startswith(registry + "."):
            rest = target[len(registry) + 1 :]
            folder = SRC.joinpath(*registry.split("."))
            return "." not in rest and not (folder / f"{rest}.py").exists() and not (folder / rest).is_dir()
    return False


def violations() -> list[str]:
    found: list[str] = []
    for path in sorted(PRODUCT.rglob("*.py")):
        name = module_name(path)
        where = path.relative_to(SRC.parent)
        rules = [(layer, banned) for layer, banned in FORBIDDEN.items() if _within(name, layer)]
        seen: set[tuple[int, str]] = set()
        for line, target, in_function in imports(path):
            if _within(target, SANDBOX) and not (name == SANDBOX_ENTRY and in_function):
                found.append(f"{where}:{line}: imports {target} (the sandbox is not product code)")
            for layer, banned in rules:
                if _registry_names(target):
                    break
                hit = next((b for b in banned if _within(target, b)), None)
                if hit is not None and (line, hit) not in seen:  # `from a import b` is one line, not two
                    seen.add((line, hit))
                    found.append(f"{where}:{line}: imports {target} ({layer} must not import {hit})")
    return found


def test_every_import_follows_the_layers() -> None:
    found = violations()
    assert not found, "forbidden imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import cronctl.evaluate.health\n", [(1, "cronctl.evaluate.health", False)]),
        (
            "from cronctl.evaluate import health\n",
            [(1, "cronctl.evaluate", False), (1, "cronctl.evaluate.health", False)],
        ),
        (
            "def f():\n    from cronctl.services import history\n",
            [(2, "cronctl.services", True), (2, "cronctl.services.history", True)],
        ),
        ("from . import pgcron\n", [(1, "cronctl.sources", False), (1, "cronctl.sources.pgcron", False)]),
        ("from ..evaluate import triage\n", [(1, "cronctl.evaluate", False), (1, "cronctl.evaluate.triage", False)]),
        ("if True:\n    import cronctl_sandbox\n", [(2, "cronctl_sandbox", False)]),
    ],
)
def test_every_kind_of_import_is_seen(text: str, expected: list[tuple[int, str, bool]]) -> None:
    assert list(imports_in(text, "cronctl.sources")) == expected


def test_the_rules_name_file_line_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "src" / "cronctl"
    (package / "sources").mkdir(parents=True)
    (package / "cli").mkdir()
    (package / "sources" / "bad.py").write_text("def f():\n    from cronctl.evaluate import health\n")
    (package / "cli" / "demo.py").write_text(
        "import cronctl_sandbox\n\ndef run():\n    import cronctl_sandbox.cluster\n"
    )
    monkeypatch.setattr(__name__ + ".SRC", tmp_path / "src")
    monkeypatch.setattr(__name__ + ".PRODUCT", package)
    assert violations() == [
        "src/cronctl/cli/demo.py:1: imports cronctl_sandbox (the sandbox is not product code)",
        "src/cronctl/sources/bad.py:2: imports cronctl.evaluate (cronctl.sources must not import cronctl.evaluate)",
    ]


@pytest.mark.parametrize("registry", REGISTRIES)
def test_registries_import_nothing_of_cronctl_at_run_time(registry: str) -> None:
    folder = SRC.joinpath(*registry.split("."))
    init = folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
    top = [
        node
        for node in ast.parse(init.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    # `cronctl.discovery` finds the implementations and imports only the standard library itself.
    own = [n for n in names if n.startswith("cronctl") and n != "cronctl.discovery"]
    assert not own, f"{init} imports {own} at module level"
