"""Small helpers that write counts and dates the same way on every page and email."""


def users(count) -> str:
    """`users(1)` → "1 user", `users(4)` → "4 users"."""
    count = int(count)
    return f"{count} user" if count == 1 else f"{count} users"


def licences(count) -> str:
    """`licences(1)` → "1 licence", `licences(3)` → "3 licences"."""
    count = int(count)
    return f"{count} licence" if count == 1 else f"{count} licences"
