"""The production shape (docker-compose.yml, Dockerfile) agrees with the settings.

A variable the settings never read is a setting an operator believes they
changed; a required one left out is a container that crashes at start, or runs
on development defaults. Docker is not needed: the files are read, and the
settings are loaded in a subprocess with the environment compose would give.
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
REQUIRED = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_env_names() -> set[str]:
    """Names seatmgr/settings.py reads: os.environ[...], os.environ.get, os.getenv, env_*()."""
    tree = ast.parse((ROOT / "seatmgr" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            first = node.args[0]
            reads_env = func in {"os.environ.get", "os.getenv"} or func.startswith("env_")
            if reads_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def service_env(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def interpolate(value: str) -> str:
    """What compose would pass: defaults applied, a dummy value for each required variable."""

    def substitute(match: re.Match) -> str:
        if match["op"] and match["op"].endswith("?"):
            return f"dummy-{match['name'].lower().replace('_', '-')}"
        return match["arg"] or ""

    return COMPOSE_VARIABLE.sub(substitute, value).replace("$$", "$")


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter that sees only env (plus PATH and HOME)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "seatmgr.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_app_services_pass_only_variables_the_settings_read(compose):
    read = settings_env_names()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= read, read

    for service in APP_SERVICES:
        unread = sorted(set(service_env(compose, service)) - read)
        assert not unread, f"{service} sets {unread}, which seatmgr/settings.py never reads"


def test_app_services_get_the_required_secrets_in_production_mode(compose):
    for service in APP_SERVICES:
        env = service_env(compose, service)
        assert not REQUIRED - set(env), f"{service} lacks {sorted(REQUIRED - set(env))}"
        assert env["DEBUG"] == "0", f"{service} runs with DEBUG={env['DEBUG']!r}"
        # ${SECRET_KEY:?...}: compose refuses to start rather than run without one.
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", env["SECRET_KEY"]), env["SECRET_KEY"]


def test_web_worker_and_beat_share_one_environment(compose):
    web = service_env(compose, "web")
    for service in ("worker", "beat"):
        assert service_env(compose, service) == web, f"{service} would run other settings than web"


def test_app_services_wait_for_healthy_database_and_redis(compose):
    services = compose["services"]
    for dependency in ("db", "redis"):
        assert services[dependency].get("healthcheck", {}).get("test"), dependency
        for service in APP_SERVICES:
            condition = services[service]["depends_on"][dependency]["condition"]
            assert condition == "service_healthy", (service, dependency)


def test_web_migrates_then_serves_with_sync_gunicorn_workers(compose):
    command = compose["services"]["web"]["command"]
    command = " ".join(command) if isinstance(command, list) else command
    gunicorn = command[command.index("gunicorn ") :]

    assert command.index("migrate") < command.index("collectstatic") < command.index("gunicorn ")
    assert "seatmgr.wsgi:application" in gunicorn
    assert "--worker-class sync" in gunicorn
    assert "--no-control-socket" in gunicorn

    # A misspelt or removed option stops the web container at start.
    help_text = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in re.findall(r"(?<!\S)--[a-z][a-z0-9-]*", gunicorn):
        assert re.search(rf"(?<!\S){re.escape(option)}\b", help_text), f"gunicorn has no {option}"


def test_worker_and_beat_run_the_seatmgr_celery_app(compose):
    assert compose["services"]["worker"]["command"].startswith("celery -A seatmgr worker ")
    assert "--concurrency 2" in compose["services"]["worker"]["command"]
    assert compose["services"]["beat"]["command"].startswith("celery -A seatmgr beat ")


def test_settings_load_in_production_mode_with_the_compose_environment(compose):
    env = {name: interpolate(value) for name, value in service_env(compose, "web").items()}
    code = """if True:
        import json
        import django
        from django.conf import settings
        django.setup()
        print(json.dumps({
            "DEBUG": settings.DEBUG,
            "database": settings.DATABASES["default"],
            "eager": settings.CELERY_TASK_ALWAYS_EAGER,
            "broker": settings.CELERY_BROKER_URL,
            "cache": settings.CACHES["default"]["BACKEND"],
            "cache_location": settings.CACHES["default"]["LOCATION"],
            "static": settings.STORAGES["staticfiles"]["BACKEND"],
            "secure_cookies": settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE,
            "allowed_hosts": settings.ALLOWED_HOSTS,
        }, default=str))
    """
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])

    assert loaded["DEBUG"] is False
    assert loaded["database"]["ENGINE"] == "django.db.backends.postgresql"
    assert (loaded["database"]["HOST"], loaded["database"]["NAME"]) == ("db", "seatmgr")
    assert loaded["eager"] is False, "tasks would run inside the web process, not on the worker"
    assert loaded["broker"] == "redis://redis:6379/0"
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["cache_location"] == "redis://redis:6379/0"
    assert loaded["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert loaded["secure_cookies"] is True
    assert "*" not in loaded["allowed_hosts"]


def test_production_talks_to_stripe_itself_with_keys_compose_requires(compose):
    env = service_env(compose, "web")
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        # ${NAME:?...}: compose refuses to start rather than take payments without them.
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]*\}}", env.get(name, "")), (name, env.get(name))
    assert "STRIPE_API_BASE" not in env and "STRIPE_JS_URL" not in env
    code = """if True:
        import json
        import django
        from django.conf import settings
        django.setup()
        print(json.dumps([settings.STRIPE_API_BASE, settings.STRIPE_JS_URL, settings.STRIPE_SECRET_KEY]))
    """
    result = run_python(code, {name: interpolate(value) for name, value in env.items()})
    assert result.returncode == 0, result.stderr
    api_base, js_url, secret_key = json.loads(result.stdout.strip().splitlines()[-1])
    # api.stripe.com, and Stripe.js from Stripe's own origin (PCI: card data never touches us).
    assert (api_base, js_url) == ("", "https://js.stripe.com/v3/")
    assert secret_key == "dummy-stripe-secret-key"


@pytest.mark.parametrize("secret_key", [None, ""], ids=["unset", "empty"])
def test_settings_refuse_to_load_in_production_without_a_secret_key(secret_key):
    env = {"DEBUG": "0", "DATABASE_URL": "postgres://seatmgr@db:5432/seatmgr"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = run_python("import django; django.setup()", env)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_dockerfile_runs_as_an_unprivileged_user_with_weasyprint_libraries():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lib_sh = (ROOT / "scripts" / "lib.sh").read_text()
    weasyprint_debs = re.search(r"WEASYPRINT_DEBS=\(([^)]*)\)", lib_sh)[1].split()

    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}, users
    missing = [deb for deb in weasyprint_debs if deb not in dockerfile.split()]
    assert not missing, f"the image lacks {missing}, which scripts/bootstrap installs"
