"""Faults a test arms to see how the app copes with Stripe failing: an error status
(402 card declined, 429 rate limited, 500...) answered without forwarding, and/or a
delay before the answer (a timeout, as the client sees it)."""

import itertools
import re
from dataclasses import dataclass, field

_ids = itertools.count(1)

ERRORS = {
    402: {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    },
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
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self):
        if self.status is None and not self.delay:
            raise ValueError("a fault needs a status, a delay, or both")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be a 4xx or 5xx")
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
        )

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "delay": self.delay,
            "times": self.times,
        }

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and bool(self._pattern.match(path))

    def error(self) -> tuple[int, dict]:
        default = {"type": "api_error", "message": f"stripe_standin fault: HTTP {self.status}."}
        return self.status, dict(ERRORS.get(self.status, default))


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
