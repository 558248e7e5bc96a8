"""Auth schemes for job triggers: one file per kind, each a `base.AuthScheme`, found by REGISTRY.

Every place that knows auth kinds reads this registry: the runbook's vocabulary (`model.AUTH_KINDS`), the
loader's checks (`validate`), `cronctl trigger --auth` (`ad_hoc_forms`), the real and the dry-run/curl headers
(triggers and health endpoints alike), the names reports give them (`label`), and the sandbox job server's
checks (`verify`).

Adding a scheme:

1. write `src/cronctl/auth/<kind>.py` (`standard_webhooks.py` is the kind `standard-webhooks`) with a module-level
   `SCHEME`, an instance of an `AuthScheme` subclass (the kind's name, the keys it needs and reads, `headers`,
   `display_headers`, `verify`; `label` when reports should name it otherwise than by its kind): the package finds
   it, and `cronctl trigger --auth <kind>` takes it;
2. add its test to tests/unit/ (a vector from the receiver's documentation or a check by the receiver's own
   library); tests/unit/test_auth_registry.py already round-trips every kind found here;
3. add its line to "What each kind sends" in docs/runbook-format.md.

Only a kind whose `--auth` forms are not just its name is also listed, in FORMS below; ORDER lists the kinds shown
first, and a kind it does not name follows them.

A key no scheme reads yet also needs a field on `runbook.model.AuthSpec` and a line in `runbook.loader._auth`.

Importing this package imports no scheme and nothing else of cronctl (`runbook.model` reads `names()` from it);
a scheme's module is imported when it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cronctl.discovery import discover

if TYPE_CHECKING:
    from cronctl.auth.base import AuthScheme, Incoming, Secrets, SignContext
    from cronctl.runbook.model import AuthSpec

# The order kinds are listed in (the runbook's vocabulary, errors, `--auth`); other kinds follow, alphabetically.
ORDER = ("none", "bearer", "apikey", "header", "standard-webhooks", "stripe", "github", "hmac")
# `cronctl trigger --url ... --auth` forms of the kinds whose forms are not just their name. They live here, not in
# the modules, so that building the CLI's help imports no scheme (all of them take ~9 ms). A kind needing keys a
# command line does not carry has none.
FORMS: dict[str, tuple[str, ...]] = {
    # `bearer+apikey`: Supabase's pair, one key sent both as Bearer token and as `apikey`.
    "apikey": ("apikey", "bearer+apikey"),
    "header": ("header:<Name>",),
    "hmac": (),
}
# kind -> module holding SCHEME: every module of this package but base.py (`standard_webhooks.py` is kind
# `standard-webhooks`)
REGISTRY = discover(__name__, __path__, ORDER, dashes=True)
# Supabase wants `apikey: <key>` beside the proof of any scheme that reads `apikey_env`.
_APIKEY = "apikey"


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def scheme(kind: str) -> AuthScheme:
    """The scheme registered under `kind`; ValueError naming the closest kind when there is none."""
    module = REGISTRY.get(kind)
    if module is None:
        from cronctl.runbook.loader import suggest

        raise ValueError(f"unknown auth kind '{kind}'{suggest(kind, REGISTRY)}")
    found: AuthScheme = importlib.import_module(module).SCHEME
    return found


def forms(kind: str) -> tuple[str, ...]:
    """The `cronctl trigger --url ... --auth` forms of one kind: its name unless FORMS says otherwise."""
    return FORMS.get(kind, (kind,))


def ad_hoc_forms() -> tuple[str, ...]:
    """What `cronctl trigger --url ... --auth` accepts, in registry order."""
    return tuple(form for kind in REGISTRY for form in forms(kind))


def _parts(spec: AuthSpec) -> list[AuthScheme]:
    main = scheme(spec.kind)
    if spec.apikey_env and "apikey_env" in main.accepts and main.kind != _APIKEY:
        return [main, scheme(_APIKEY)]
    return [main]


def request_headers(spec: AuthSpec, secrets: Secrets, ctx: SignContext) -> dict[str, str]:
    """Headers that authenticate one request; ValueError when a needed secret is missing or malformed."""
    headers: dict[str, str] = {}
    for part in _parts(spec):
        headers.update(part.headers(spec, secrets, ctx))
    return headers


def display_headers(spec: AuthSpec, ctx: SignContext) -> dict[str, str]:
    """The same headers with secrets as `$VARNAME` and signatures as a placeholder; safe to print."""
    headers: dict[str, str] = {}
    for part in _parts(spec):
        headers.update(part.display_headers(spec, ctx))
    return headers


def label(spec: AuthSpec, *, variables: bool = False) -> str:
    """How reports name the spec's auth: "bearer+apikey" (`cronctl jobs`); with `variables`, the variables it
    reads as well: "bearer $KEY + apikey $KEY" (`cronctl init`). Never a secret value."""
    shown = [part.label(spec, variables=variables) for part in _parts(spec)]
    return (" + " if variables else "+").join(shown)


def verify(spec: AuthSpec, secrets: Secrets, request: Incoming) -> bool:
    """Whether a receiver configured like `spec` accepts the request: every header it sends must check out."""
    return all(part.verify(spec, secrets, request) for part in _parts(spec))
