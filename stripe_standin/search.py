"""Stripe's Search API for PaymentIntents (`GET /v1/payment_intents/search`), which
localstripe lacks, played over localstripe's list of PaymentIntents.

As https://docs.stripe.com/search describes it:

* a query is clauses `field:value`, joined all by `AND` or all by `OR` (never both:
  "use parentheses" is not part of the language), at most 10; `-` before a clause
  negates it; string values are quoted ('…' or "…", backslash escapes), numbers not;
  `>`, `<`, `>=`, `<=` compare numbers; `~` is a substring match of 3 characters or
  more;
* PaymentIntents can be searched by `amount`, `created`, `currency`, `customer`,
  `metadata['key']` and `status`;
* the answer is a `search_result` (`data`, `has_more`, `next_page`), newest first,
  `limit` 1 to 100 (10 by default), `page` the cursor of a previous answer;
* search is eventually consistent: "under normal operating conditions, data is
  searchable in under 1 minute", later during an outage. The stand-in answers at once
  by default; `lag` (POST /_standin/search) leaves out PaymentIntents created less than
  that many seconds ago, to play an index that is behind.

What the stand-in does not play (`has:`, `null`, prefix wildcards) is refused with a
400 that says so, rather than answered wrongly.
"""

import base64
import re
from dataclasses import dataclass

from stripe_standin.errors import StripeRefusal

PAYMENT_INTENT_FIELDS = {"amount": "number", "created": "number", "currency": "string",
                         "customer": "string", "status": "string"}  # fmt: skip
MAX_CLAUSES = 10

_CLAUSE = re.compile(
    r"""^(?P<negated>-)?
        (?P<field>metadata\[(?P<key>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]|[a-z_]+)
        (?P<op>:|~|>=|<=|>|<)
        (?P<value>.+)$""",
    re.VERBOSE | re.DOTALL,
)


def _refuse(message: str) -> StripeRefusal:
    return StripeRefusal(message, param="query")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


@dataclass(frozen=True)
class Clause:
    negated: bool
    field: str  # "amount", or "metadata" with `key`
    key: str
    op: str
    value: str | int

    def matches(self, intent: dict) -> bool:
        if self.field == "metadata":
            actual = (intent.get("metadata") or {}).get(self.key)
        else:
            actual = intent.get(self.field)
            if isinstance(actual, dict):  # an expanded customer
                actual = actual.get("id")
        if actual is None:
            hit = False
        elif self.op == ":":
            hit = (
                str(actual).lower() == str(self.value).lower()
                if self.field == "currency"
                else (str(actual) == str(self.value))
            )
        elif self.op == "~":
            hit = str(self.value).lower() in str(actual).lower()
        else:
            number, bound = int(actual), int(self.value)
            hit = {">": number > bound, "<": number < bound, ">=": number >= bound, "<=": number <= bound}[
                self.op
            ]
        return hit != self.negated


def _words(query: str) -> list[str]:
    """The query cut at whitespace outside quotes: clauses and the AND/OR between them."""
    words, current, quote, escaped = [], "", "", False
    for char in query.strip():
        if escaped:
            current, escaped = current + char, False
        elif quote:
            current += char
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "'\"":
            current, quote = current + char, char
        elif char.isspace():
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if quote:
        raise _refuse("The query has an unterminated quote.")
    return [*words, current] if current else words


def parse(query: str) -> tuple[str, list[Clause]]:
    """The query's joining word ("AND" or "OR") and its clauses; StripeRefusal for a
    query Stripe would refuse (or one the stand-in does not play)."""
    if not query.strip():
        raise _refuse("The query is empty: give at least one clause, like status:'succeeded'.")
    words = _words(query)
    clauses, joiners = words[0::2], set(words[1::2])
    if len(words) % 2 == 0 or not joiners <= {"AND", "OR"}:
        raise _refuse(f"Invalid query: {query!r}. Clauses are joined by AND or OR.")
    if len(joiners) > 1:
        raise _refuse("A search query cannot combine AND and OR.")
    if len(clauses) > MAX_CLAUSES:
        raise _refuse(f"A search query takes at most {MAX_CLAUSES} clauses.")
    return (joiners.pop() if joiners else "AND"), [_clause(text) for text in clauses]


def _clause(text: str) -> Clause:
    match = _CLAUSE.match(text)
    if match is None:
        raise _refuse(f"Invalid clause {text!r}: expected field:value, like metadata['order']:'123'.")
    field, op, raw = match.group("field"), match.group("op"), match.group("value")
    key = ""
    if match.group("key"):
        field, key = "metadata", _unquote(match.group("key"))
        kind = "string"
    elif field in PAYMENT_INTENT_FIELDS:
        kind = PAYMENT_INTENT_FIELDS[field]
    else:
        raise _refuse(
            f"Field {field!r} is not a query field of PaymentIntents: use amount, created, currency, "
            "customer, metadata['key'] or status."
        )
    quoted = raw[:1] in "'\"" and raw[-1:] == raw[:1] and len(raw) >= 2
    if kind == "number":
        if quoted or not re.fullmatch(r"-?\d+", raw):
            raise _refuse(f"{field} takes a number, unquoted: {text!r}.")
        if op == "~":
            raise _refuse(f"{field} is a number: ~ matches strings only.")
        return Clause(bool(match.group("negated")), field, key, op, int(raw))
    if not quoted:
        raise _refuse(f"String values are quoted: {field}{op}'{raw}'.")
    value = _unquote(raw)
    if op in (">", "<", ">=", "<="):
        raise _refuse(f"{field} is a string: it cannot be compared with {op}.")
    if op == "~" and len(value) < 3:
        raise _refuse("A substring match (~) needs at least 3 characters.")
    if "*" in value:
        raise _refuse("stripe_standin does not play wildcards in search values.")
    return Clause(bool(match.group("negated")), field, key, op, value)


def matches(joiner: str, clauses: list[Clause], intent: dict) -> bool:
    results = (clause.matches(intent) for clause in clauses)
    return all(results) if joiner == "AND" else any(results)


def page_of(found: list[dict], *, limit: int, page: str) -> dict:
    """One page of a search result, newest first; `next_page` is an opaque cursor."""
    try:
        start = int(base64.urlsafe_b64decode(page.encode()).decode()) if page else 0
    except ValueError:
        raise StripeRefusal("Invalid page cursor.", param="page") from None
    if not 1 <= limit <= 100:
        raise StripeRefusal("Limit must be between 1 and 100.", param="limit")
    ordered = sorted(
        found, key=lambda intent: (intent.get("created") or 0, intent.get("id") or ""), reverse=True
    )
    data = ordered[start : start + limit]
    more = start + limit < len(ordered)
    return {
        "object": "search_result",
        "url": "/v1/payment_intents/search",
        "has_more": more,
        "next_page": base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None,
        "data": data,
    }
