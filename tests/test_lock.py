"""The lock files (requirements/base.txt, requirements/dev.txt) agree with
pyproject.toml, and the check in scripts/test says so, offline: run on the project,
then on copies whose pyproject.toml disagrees with the lock."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def check(project_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock.py"), str(project_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    return tmp_path


def edit(project_dir: Path, old: str, new: str) -> None:
    path = project_dir / "pyproject.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_lock_files_agree_with_pyproject():
    result = check(ROOT)

    assert result.returncode == 0, result.stderr


def test_production_gets_no_dev_tools():
    base = (ROOT / "requirements" / "base.txt").read_text()
    dev = (ROOT / "requirements" / "dev.txt").read_text()

    assert "\ndjango==" in base and "\npytest==" not in base and "\npytest==" in dev


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # A dependency added to pyproject.toml (as after merging a branch) but not locked.
        (
            '"django-csp>=4,<5",',
            '"django-csp>=4,<5",\n    "aiosmtpd>=1.4",',
            "aiosmtpd is in pyproject.toml but not in",
        ),
        # A range the locked version falls outside.
        ('"django>=5.2,<5.3"', '"django>=6"', "outside pyproject.toml's django>=6"),
        # A dependency removed from pyproject.toml that the lock still pins for it.
        (
            '    "whitenoise>=6.7,<7",\n',
            "",
            "pins whitenoise for the project, which pyproject.toml no longer asks for",
        ),
        # A dev tool added.
        (
            '"pytest>=8,<10",',
            '"pytest>=8,<10",\n    "pytest-timeout>=2",',
            "not in requirements/dev.txt",
        ),
        # Extras changed: the pins still satisfy the ranges, but the lock is for other requirements.
        (
            '"celery[redis]>=5.4,<6"',
            '"celery[redis,sqs]>=5.4,<6"',
            "changed since requirements/base.txt was written",
        ),
    ],
)
def test_a_pyproject_that_disagrees_with_the_lock_fails_the_check(copy, old, new, problem):
    edit(copy, old, new)

    result = check(copy)

    assert result.returncode == 1
    assert problem in result.stderr
    assert "run ./scripts/lock" in result.stderr
