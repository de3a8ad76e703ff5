"""Idempotency keys as https://docs.stripe.com/api/idempotent_requests describes them:
per account (here: per secret key), kept 24 hours; the first request's status and body
are saved once the endpoint starts running and replayed for a retry with the same
parameters; a retry with other parameters is refused; a request refused before it ran
(a parameter check) saves nothing, so the corrected request can use the same key."""

from dataclasses import dataclass


class Mismatch(Exception):
    pass


class InProgress(Exception):
    pass


@dataclass
class Saved:
    fingerprint: tuple
    at: float
    status: int = 0
    body: object = None
    rid: str = ""
    done: bool = False


class IdempotencyStore:
    def __init__(self, ttl: float, clock):
        self._ttl = ttl
        self._clock = clock
        self._saved: dict[tuple[str, str], Saved] = {}

    def _expire(self) -> None:
        cutoff = self._clock() - self._ttl
        for slot in [slot for slot, saved in self._saved.items() if saved.at < cutoff]:
            del self._saved[slot]

    def begin(self, account: str, key: str, fingerprint: tuple) -> Saved | None:
        """The saved answer to replay, or None after claiming the key for this request."""
        self._expire()
        saved = self._saved.get((account, key))
        if saved is None:
            self._saved[(account, key)] = Saved(fingerprint=fingerprint, at=self._clock())
            return None
        if saved.fingerprint != fingerprint:
            raise Mismatch
        if not saved.done:
            raise InProgress
        return saved

    def finish(self, account: str, key: str, status: int, body, rid: str) -> None:
        saved = self._saved[(account, key)]
        saved.status, saved.body, saved.rid, saved.done = status, body, rid, True

    def abandon(self, account: str, key: str) -> None:
        """The request never got an answer from upstream: nothing to replay."""
        self._saved.pop((account, key), None)

    def clear(self) -> None:
        self._saved.clear()
