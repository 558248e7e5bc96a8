"""Finding the implementations of an extension point: every module file of its package is one.

Registries (auth/, output/formats/, sources/locks/, sources/external/) call `discover` at import, so a new file is
the whole registration. This module imports only the standard library: registries may import nothing else of
cronctl at run time (tests/unit/test_import_contract.py).
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable


def discover(package: str, path: Iterable[str], order: tuple[str, ...], *, dashes: bool = False) -> dict[str, str]:
    """name -> module for every module of `package` (at `path`) but `base` and private (`_x`) ones, in `order`
    first and the others alphabetically after it. `dashes`: a module `a_b.py` is named `a-b`."""
    found = {
        (module.name.replace("_", "-") if dashes else module.name): f"{package}.{module.name}"
        for module in pkgutil.iter_modules(list(path))
        if module.name != "base" and not module.name.startswith("_")
    }

    def rank(name: str) -> tuple[int, str]:
        return (order.index(name) if name in order else len(order), name)

    return {name: found[name] for name in sorted(found, key=rank)}
