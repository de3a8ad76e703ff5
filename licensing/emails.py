"""Org users' email addresses, in one form: the one stored, compared and answered.

The domain is written in its ASCII (IDNA) form, so `admin@bücher.example` and
`admin@xn--bcher-kva.example` are one person, and the whole address is lower-cased
(the unique index and every comparison are case-insensitive anyway).
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # RFC 5321's limit, and the column's


def normalise_email(raw: str) -> str | None:
    """The stored form of `raw`, or None when it is no valid email address."""
    email = (raw or "").strip()
    local, at, domain = email.rpartition("@")
    if not at or "\x00" in email:
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    email = f"{local}@{domain}".lower()
    if len(email) > MAX_LENGTH:
        return None
    try:
        validate_email(email)
    except ValidationError:
        return None
    return email
