"""Small helpers that write counts and dates the same way on every page and email."""


def counted(count, singular: str, plural: str = "") -> str:
    """`count` with its noun as people write it: "1 user", "3 users", "1,000 seats"."""
    count = int(count)
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def users(count) -> str:
    """`users(1)` → "1 user", `users(4)` → "4 users"."""
    return counted(count, "user")


def licences(count) -> str:
    """`licences(1)` → "1 licence", `licences(3)` → "3 licences"."""
    return counted(count, "licence")
