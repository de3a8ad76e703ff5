"""Domain errors: each carries a stable code, a message a person can act on and the
HTTP status the API answers with. Views and the API render them in one place."""


class DomainError(Exception):
    code = "domain_error"
    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.message, **self.extra}


class InvalidInput(DomainError):
    code = "invalid"
    status_code = 400


class NotFound(DomainError):
    code = "not_found"
    status_code = 404


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
