"""Faults a test arms to see how the app copes with Stripe failing: an error status
(402 card declined, 429 rate limited, 500...) answered without forwarding, with
Stripe's error body for it or one the test gives (a decline code, `amount_too_small`,
even a 200 whose body is not what the call expects); a connection closed without an
answer; and/or a delay before the answer (a timeout, as the client sees it)."""

import itertools
import re
from dataclasses import dataclass, field

_ids = itertools.count(1)

ERRORS = {
    400: {
        "type": "invalid_request_error",
        "code": "parameter_invalid_integer",
        "param": "amount",
        "message": "Invalid integer: 12.5",
    },
    401: {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"},
    402: {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    },
    403: {
        "type": "invalid_request_error",
        "code": "secret_key_required",
        "message": "The provided key does not have the required permissions for this endpoint.",
    },
    404: {"type": "invalid_request_error", "code": "resource_missing", "message": "No such payment_intent."},
    429: {
        "type": "invalid_request_error",
        "code": "rate_limit",
        "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
    },
    500: {"type": "api_error", "message": "Something went wrong on Stripe's end."},
}


@dataclass
class Fault:
    path: str  # exact, or a template: "/v1/payment_intents/{intent}/confirm"
    method: str = "POST"
    status: int | None = None
    delay: float = 0.0
    times: int = 1
    # The whole answer's body instead of Stripe's error body for the status.
    body: dict | None = None
    # Close the connection without answering (the client sees a network error).
    drop: bool = False
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self):
        if self.status is None and not self.delay and not self.drop:
            raise ValueError("a fault needs a status, a delay, a drop, or some of them")
        if self.status is not None and not (400 <= self.status <= 599 or self.body is not None):
            raise ValueError("status must be a 4xx or 5xx (or come with a body)")
        if self.body is not None and (self.status is None or not isinstance(self.body, dict)):
            raise ValueError("a body needs a status and must be an object")
        if self.times < 1:
            raise ValueError("times must be at least 1")
        regex = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path))
        self._pattern = re.compile(f"^{regex}$")

    @classmethod
    def from_json(cls, data: dict) -> "Fault":
        return cls(
            path=str(data["path"]),
            method=str(data.get("method", "POST")).upper(),
            status=int(data["status"]) if data.get("status") is not None else None,
            delay=float(data.get("delay", 0)),
            times=int(data.get("times", 1)),
            body=data.get("body"),
            drop=bool(data.get("drop", False)),
        )

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "delay": self.delay,
            "times": self.times,
            "body": self.body,
            "drop": self.drop,
        }

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and bool(self._pattern.match(path))

    def error(self) -> tuple[int, dict]:
        default = {"type": "api_error", "message": f"stripe_standin fault: HTTP {self.status}."}
        return self.status, dict(ERRORS.get(self.status, default))

    def answer(self) -> tuple[int, dict]:
        """The status and body answered."""
        if self.body is not None:
            return self.status, self.body
        status, error = self.error()
        return status, {"error": error}


class Faults:
    def __init__(self):
        self.armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.armed.append(fault)

    def clear(self) -> None:
        self.armed.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, used up by one."""
        for fault in self.armed:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times == 0:
                    self.armed.remove(fault)
                return fault
        return None
