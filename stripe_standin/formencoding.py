"""Stripe's form encoding, both ways: `items[0][price]=p&expand[]=x` ⇄ nested dicts and lists.

stripe-python writes lists with indexes (`expand[0]=x`); other clients write `expand[]=x`.
A hash whose keys are all indexes is a list, as Stripe reads it.
"""

import re
from urllib.parse import parse_qsl, urlencode

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    def __init__(self, param: str):
        super().__init__(f"Invalid hash: {param}")
        self.param = param


def _segments(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    tail = "[" + rest if rest else ""
    segments = _SEGMENT.findall(tail)
    if _SEGMENT.sub("", tail):  # `a[b` or `a]b`: not Stripe's form
        raise FormError(key)
    return [head, *segments]


def _as_lists(value):
    if isinstance(value, dict):
        value = {key: _as_lists(item) for key, item in value.items()}
        if value and all(key.isdigit() for key in value):
            return [value[key] for key in sorted(value, key=int)]
    return value


def decode(body: str) -> dict:
    """The nested parameters of a form-encoded body or query string."""
    tree: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        segments = _segments(key)
        node = tree
        for depth, segment in enumerate(segments[:-1]):
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise FormError(_param(segments[: depth + 1]))
            node = child
        last = segments[-1]
        if last == "":  # `expand[]=x`: the next index
            last = str(len(node))
        if last in node:
            raise FormError(_param(segments))
        node[last] = value
    return _as_lists(tree)


def _param(segments: list[str]) -> str:
    return segments[0] + "".join(f"[{segment}]" for segment in segments[1:])


def _flatten(value, prefix: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}[{key}]" if prefix else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    else:
        yield prefix, "" if value is None else str(value)


def pairs(params: dict) -> list[tuple[str, str]]:
    """`{"items": [{"price": "p"}]}` → `[("items[0][price]", "p")]`."""
    return list(_flatten(params, ""))


def encode(params: dict) -> str:
    return urlencode(pairs(params))
