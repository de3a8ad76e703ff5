"""Checks a request's parameters against the params TypedDict the pinned stripe-python
declares for its endpoint (`catalogue.py`): unknown parameters, missing required ones,
and values of the wrong type, nested, with the errors Stripe gives for each.

Forms carry only strings, so types are read the way Stripe reads them: an integer is
digits, a boolean is `true`/`false`, an enum is one of its listed values. stripe-python
types enums as `Literal[...] | str` so that values added after its release still type
check; the API of the pinned version accepts only the listed ones, so the `str` is
dropped. `Literal['']` in a union is Stripe's "empty string unsets this".
"""

import functools
import re
import typing
from types import UnionType

from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from typing_extensions import is_typeddict

from stripe_standin.errors import StripeRefusal

# Options of the SDK's call (api_key, idempotency_key...), never sent as parameters.
_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")


@functools.cache
def fields(typed: type) -> tuple[dict[str, typing.Any], frozenset[str]]:
    """The parameters of a params TypedDict (types resolved) and the required ones."""
    annotations = {
        name: annotation for name, annotation in typed.__annotations__.items() if name not in _REQUEST_OPTIONS
    }
    # A plain class with the same annotations, evaluated in the TypedDict's module:
    # NotRequired/Required are stripped, forward references resolved.
    holder = type(typed.__name__, (), {"__annotations__": annotations, "__module__": typed.__module__})
    return typing.get_type_hints(holder), frozenset(typed.__required_keys__ - _REQUEST_OPTIONS)


def check(params: dict, typed: type) -> None:
    """Raise StripeRefusal for the first thing Stripe would refuse in `params`."""
    _check_object(params, typed, "")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _check_object(value: dict, typed: type, prefix: str) -> None:
    types, required = fields(typed)
    for key in value:
        if key not in types:
            name = _name(prefix, key)
            raise StripeRefusal(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")
    for key in sorted(required):
        if key not in value:
            name = _name(prefix, key)
            raise StripeRefusal(f"Missing required param: {name}.", param=name, code="parameter_missing")
    for key, item in value.items():
        _check(item, types[key], _name(prefix, key))


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, UnionType)


def _alternatives(annotation) -> list:
    alternatives = list(typing.get_args(annotation))
    open_enum = any(
        typing.get_origin(a) is typing.Literal and any(v != "" for v in typing.get_args(a))
        for a in alternatives
    )
    if open_enum and str in alternatives:
        alternatives.remove(str)
    return alternatives


def _shape(annotation) -> type:
    """What a value of this type looks like once form-decoded."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return list
    if origin is dict or is_typeddict(annotation) or _is_untyped_object(annotation):
        return dict
    return str


def _is_untyped_object(annotation) -> bool:
    return (typing.get_origin(annotation) or annotation) is UntypedStripeObject


def _check(value, annotation, name: str) -> None:
    if annotation is typing.Any:
        return
    if _is_union(annotation):
        _check_union(value, annotation, name)
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in typing.get_args(annotation)]
        if value not in allowed:
            shown = ", ".join(f"`{v}`" for v in allowed if v)
            raise StripeRefusal(
                f"Invalid {name}: must be one of {shown}" if shown else f"Invalid {name}", param=name
            )
        return
    shape = _shape(annotation)
    if shape is dict and not isinstance(value, dict):
        raise StripeRefusal("Invalid object", param=name)
    if shape is list and not isinstance(value, list):
        raise StripeRefusal("Invalid array", param=name)
    if shape is str and not isinstance(value, str):
        raise StripeRefusal(f"Invalid {name}: a string was expected, not an object or array", param=name)
    if is_typeddict(annotation):
        _check_object(value, annotation, name)
    elif origin is list:
        (item_type,) = typing.get_args(annotation)
        for index, item in enumerate(value):
            _check(item, item_type, f"{name}[{index}]")
    elif shape is dict:
        arguments = typing.get_args(annotation)
        item_type = arguments[-1] if arguments else typing.Any
        for key, item in value.items():
            _check(item, item_type, f"{name}[{key}]")
    else:
        _check_scalar(value, annotation, name)


def _check_scalar(value: str, annotation, name: str) -> None:
    if value == "":
        raise StripeRefusal(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to unset a "
            f"parameter; however '{name}' cannot be unset. You should remove '{name}' from your request "
            "or supply a non-empty value.",
            param=name,
            code="parameter_invalid_empty",
        )
    if annotation is bool and value not in ("true", "false"):
        raise StripeRefusal(f"Invalid boolean: {value}", param=name)
    if annotation is int and not _INTEGER.match(value):
        raise StripeRefusal(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    if annotation is float and not _DECIMAL.match(value):
        raise StripeRefusal(f"Invalid decimal: {value}", param=name)


def _check_union(value, annotation, name: str) -> None:
    alternatives = _alternatives(annotation)
    refusals = []
    for alternative in alternatives:
        try:
            _check(value, alternative, name)
        except StripeRefusal as refusal:
            refusals.append((alternative, refusal))
        else:
            return
    # Report the refusal of the alternative the value was meant to be: a hash for a
    # hash, a list for a list; for a string, an enum's list of values says the most.
    shaped = [
        (alternative, refusal)
        for alternative, refusal in refusals
        if _shape(alternative) is type(value) and not _is_empty_literal(alternative)
    ]
    candidates = shaped or refusals
    for alternative, refusal in candidates:
        if typing.get_origin(alternative) is typing.Literal:
            raise refusal
    raise candidates[0][1]


def _is_empty_literal(annotation) -> bool:
    return typing.get_origin(annotation) is typing.Literal and typing.get_args(annotation) == ("",)
