"""Which parameters each Stripe API call takes, read from the installed `stripe` library.

stripe-python is generated from Stripe's OpenAPI spec for one API version (its
`_api_version.py`), and ships one TypedDict per call (`stripe.params.*Params`). Its
service classes (`stripe/**/_*_service.py`) say which call goes where:

    def create(self, params: "PaymentIntentCreateParams", ...):
        return self._request("post", "/v1/payment_intents", ...)

`catalogue()` reads those services' source (without importing them: they import
lazily) and maps (method, path template) to the params TypedDict, so the stand-in
checks exactly what the pinned library version documents.
"""

import ast
import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import stripe
from stripe._api_version import _ApiVersion

API_VERSION = _ApiVersion.CURRENT


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str  # "/v1/payment_intents/{intent}/confirm"
    pattern: re.Pattern
    params: type  # the TypedDict

    @property
    def specificity(self) -> tuple[int, int]:
        """Literal segments first: `/v1/invoices/upcoming` before `/v1/invoices/{invoice}`."""
        segments = self.template.strip("/").split("/")
        return (-sum(not s.startswith("{") for s in segments), len(segments))


def _path_template(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (  # "/v1/x/{id}".format(id=...)
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return node.func.value.value
    return None


def _params_annotation(function: ast.FunctionDef) -> str | None:
    for argument in function.args.args:
        if argument.arg != "params" or argument.annotation is None:
            continue
        text = ast.unparse(argument.annotation)  # 'Optional["X"]' or "'X'"
        names = re.findall(r"\b([A-Z]\w*Params)\b", text)
        return names[0] if names else None
    return None


def _imports(tree: ast.Module) -> dict[str, str]:
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stripe.params"):
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
    return names


def _endpoints_of(source: Path):
    tree = ast.parse(source.read_text())
    modules = _imports(tree)
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        name = _params_annotation(function)
        if name is None or name not in modules:
            continue
        for call in ast.walk(function):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "_request"
                and len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)
            ):
                template = _path_template(call.args[1])
                if template and template.startswith("/v1/"):
                    yield call.args[0].value.upper(), template, modules[name], name


def _pattern(template: str) -> re.Pattern:
    regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{regex}$")


@functools.cache
def catalogue() -> list[Endpoint]:
    """Every /v1 endpoint of the installed library, most specific path first."""
    root = Path(stripe.__file__).parent
    found = {}
    for source in sorted(root.rglob("_*_service.py")):
        if "v2" in source.relative_to(root).parts:
            continue
        for method, template, module, name in _endpoints_of(source):
            params = getattr(importlib.import_module(module), name)
            found[(method, template)] = Endpoint(method, template, _pattern(template), params)
    return sorted(found.values(), key=lambda endpoint: endpoint.specificity)


def endpoint_for(method: str, path: str) -> Endpoint | None:
    for endpoint in catalogue():
        if endpoint.method == method and endpoint.pattern.match(path):
            return endpoint
    return None
