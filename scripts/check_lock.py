"""Usage: python scripts/check_lock.py [--stamp] [PROJECT_DIR]

Checks, offline and in well under a second, that the lock files agree with
pyproject.toml (scripts/test runs it before anything else):

- requirements/base.txt locks [project] dependencies, requirements/dev.txt those and
  the `dev` extra: each has a pinned version satisfying its range in pyproject.toml;
- neither pins, as one of the project's own requirements, something pyproject.toml no
  longer asks for;
- every pin carries hashes, and the two files pin the same version of what both have;
- the requirements as a whole (extras and markers too) are those the lock files were
  written for: each file names their digest on a line of its own.

`--stamp` writes that digest line (scripts/lock does, after `uv pip compile`). Exit
status 1, with one line per problem and the command that fixes them, when they
disagree.
"""

import hashlib
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCKS = {"base": "requirements/base.txt", "dev": "requirements/dev.txt"}
FIX = "run ./scripts/lock (then ./scripts/bootstrap installs what it wrote)"
DIGEST_LINE = re.compile(r"^# pyproject\.toml requirements: sha256 ([0-9a-f]{64})$", re.MULTILINE)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
OWN = "seatmgr (pyproject.toml)"


def wanted(project_dir: Path) -> dict[str, list[str]]:
    """The requirement strings each lock file is for."""
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    base = list(project.get("dependencies", []))
    return {"base": base, "dev": base + list(project.get("optional-dependencies", {}).get("dev", []))}


def digest(requirements: list[str]) -> str:
    normalized = sorted(str(Requirement(text)) for text in requirements)
    return hashlib.sha256("\n".join(normalized).encode()).hexdigest()


def parse_lock(text: str) -> dict[str, list[dict]]:
    """Each pinned name: its pins (a universal lock may pin one per marker), with their
    hashes and whether the lock says the project itself asks for it."""
    pins: dict[str, list[dict]] = {}
    current = None
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            current = {"version": Version(match["version"]), "hashes": 0, "own": False, "line": line}
            pins.setdefault(canonicalize_name(match["name"]), []).append(current)
        elif current is not None:
            current["hashes"] += line.count("--hash=")
            if line.lstrip().startswith("#") and OWN in line:
                current["own"] = True
    return pins


def problems(project_dir: Path) -> list[str]:
    found = []
    locked = {}
    for kind, requirements in wanted(project_dir).items():
        path = project_dir / LOCKS[kind]
        if not path.exists():
            found.append(f"{LOCKS[kind]} is missing")
            continue
        text = path.read_text()
        pins = locked[kind] = parse_lock(text)
        asked = set()
        for requirement in map(Requirement, requirements):
            name = canonicalize_name(requirement.name)
            asked.add(name)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # not for this platform: a universal lock may still pin it
            if name not in pins:
                found.append(f"{requirement.name} is in pyproject.toml but not in {LOCKS[kind]}")
                continue
            for pin in pins[name]:
                if not requirement.specifier.contains(pin["version"], prereleases=True):
                    found.append(
                        f"{LOCKS[kind]} pins {requirement.name}=={pin['version']}, "
                        f"outside pyproject.toml's {requirement}"
                    )
        for name, entries in pins.items():
            if any(pin["own"] for pin in entries) and name not in asked:
                found.append(
                    f"{LOCKS[kind]} pins {name} for the project, which pyproject.toml no longer asks for"
                )
            for pin in entries:
                if not pin["hashes"]:
                    found.append(f"{LOCKS[kind]} pins {name}=={pin['version']} without hashes")
        stamp = DIGEST_LINE.search(text)
        if not found and (not stamp or stamp[1] != digest(requirements)):
            found.append(
                f"pyproject.toml's requirements changed since {LOCKS[kind]} was written (extras, markers)"
            )
    if len(locked) == 2:
        for name, entries in locked["base"].items():
            base_versions = {pin["version"] for pin in entries}
            dev_versions = {pin["version"] for pin in locked["dev"].get(name, [])}
            if dev_versions and dev_versions != base_versions:
                found.append(f"{name}: {LOCKS['base']} and {LOCKS['dev']} pin different versions")
    return found


def stamp(project_dir: Path) -> None:
    for kind, requirements in wanted(project_dir).items():
        path = project_dir / LOCKS[kind]
        line = f"# pyproject.toml requirements: sha256 {digest(requirements)}"
        text = DIGEST_LINE.sub("", path.read_text()).lstrip("\n")
        path.write_text(f"{line}\n{text}")


def main(argv: list[str]) -> int:
    write = "--stamp" in argv
    paths = [arg for arg in argv if arg != "--stamp"]
    project_dir = Path(paths[0] if paths else Path(__file__).resolve().parent.parent)
    if write:
        stamp(project_dir)
    found = problems(project_dir)
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    if found:
        print(f"lock: the lock files disagree with pyproject.toml: {FIX}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
