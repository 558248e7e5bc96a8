"""GitHub workflow files read with a real YAML parser (PyYAML's safe loader, imported only by `cronctl init`).

Anchors, aliases, merge keys, multi-line plain and block scalars are YAML's own. Two GitHub-specific choices:
`on` stays the string key "on" (YAML 1.1 would make it `True`; GitHub reads it as `on`), and only
true/false are booleans (`yes`, `no`, `off` stay strings, as in YAML 1.2 and GitHub's own reader).
Invalid YAML is refused with the file and line of the problem.
"""

from __future__ import annotations

import re
from typing import Any


class YamlError(ValueError):
    pass


_LOADER: Any = None


def _loader() -> Any:
    global _LOADER
    if _LOADER is None:
        import yaml

        class WorkflowLoader(yaml.SafeLoader):
            pass

        resolvers: dict[Any, list[Any]] = {}
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
            resolvers[first] = [(tag, regexp) for tag, regexp in entries if tag != "tag:yaml.org,2002:bool"]
        WorkflowLoader.yaml_implicit_resolvers = resolvers
        WorkflowLoader.add_implicit_resolver(
            "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
        )
        _LOADER = WorkflowLoader
    return _LOADER


def loads(text: str, filename: str = "<yaml>") -> Any:
    """The document in `text`; YamlError("file:line: problem") when it is not valid YAML."""
    import yaml

    try:
        documents = list(yaml.load_all(text, Loader=_loader()))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = (exc.problem or exc.context or "not valid YAML").strip()
        raise YamlError(f"{filename}:{line}: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{filename}: not valid YAML ({type(exc).__name__})") from None
    except RecursionError:
        raise YamlError(f"{filename}: nested too deeply") from None
    if len(documents) > 1:
        raise YamlError(f"{filename}: a workflow is one YAML document, found {len(documents)}")
    return documents[0] if documents else None
