"""Errors shaped like Stripe's: `{"error": {"type", "code", "param", "message", "doc_url"}}`."""

import secrets


def request_id() -> str:
    return "req_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


class StripeRefusal(Exception):
    """A request Stripe would refuse, with the answer it would give."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        status: int = 400,
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.status = status

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        return {"error": error}
