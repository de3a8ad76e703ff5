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
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker-urgent", "worker", "beat")
REQUIRED = {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_HOST"}
# Compose refuses to start without these (${NAME:?...}) rather than let the settings refuse.
REQUIRED_FROM_OPERATOR = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "EMAIL_HOST")

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


DUMMY_FERNET_KEY = Fernet.generate_key().decode()


def interpolate(value: str) -> str:
    """What compose would pass: defaults applied, a dummy value for each required variable."""

    def substitute(match: re.Match) -> str:
        if match["op"] and match["op"].endswith("?"):
            if match["name"] == "FIELD_ENCRYPTION_KEY":  # the settings check its form
                return DUMMY_FERNET_KEY
            return f"dummy-{match['name'].lower().replace('_', '-')}"
        return match["arg"] or ""

    return COMPOSE_VARIABLE.sub(substitute, value).replace("$$", "$")


def base_env() -> dict[str, str]:
    """PATH, HOME and LANG, and the app's own settings module (not the tests')."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**base, "DJANGO_SETTINGS_MODULE": "seatmgr.settings"}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter that sees only env (plus base_env())."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base_env(), **env},
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
        for name in REQUIRED_FROM_OPERATOR:
            assert re.fullmatch(rf"\$\{{{name}:\?[^}}]*\}}", env[name]), (service, name, env[name])
        assert "DEV_MAILBOX" not in env, service


def test_web_worker_and_beat_share_one_environment(compose):
    web = service_env(compose, "web")
    for service in ("worker-urgent", "worker", "beat"):
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


def test_web_is_published_on_loopback_only_for_the_proxy_in_front(compose):
    # Reached directly, a client would choose its own address in X-Forwarded-For.
    assert [interpolate(port) for port in compose["services"]["web"]["ports"]] == ["127.0.0.1:8000:8000"]


def test_worker_and_beat_run_the_seatmgr_celery_app(compose):
    for worker in ("worker-urgent", "worker"):
        assert compose["services"][worker]["command"].startswith("celery -A seatmgr worker ")
    assert "--concurrency 2" in compose["services"]["worker"]["command"]
    assert compose["services"]["beat"]["command"].startswith("celery -A seatmgr beat ")


def test_the_burst_benchmark_runs_the_urgent_worker_as_compose_does(compose):
    from benchmarks.burst import URGENT_CONCURRENCY

    command = interpolate(compose["services"]["worker-urgent"]["command"])
    assert f"--concurrency {URGENT_CONCURRENCY} " in command


def test_the_background_worker_yields_the_cpu_to_the_urgent_one_on_a_shared_host(compose):
    # A burst of receipts (a PDF each) must not slow the paid pushes beside it.
    shares = {name: compose["services"][name].get("cpu_shares", 1024) for name in ("worker-urgent", "worker")}
    assert shares["worker"] * 4 <= shares["worker-urgent"]


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


def production_env(compose: dict) -> dict[str, str]:
    """What compose gives the web service, with secrets as an operator would make them."""
    env = {name: interpolate(value) for name, value in service_env(compose, "web").items()}
    return {
        **env,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "seats.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://seats.example.com",
        "SITE_URL": "https://seats.example.com",
    }


def test_check_deploy_finds_nothing_in_the_production_shape(compose):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base_env(), **production_env(compose)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # The checks silenced in settings.SILENCED_SYSTEM_CHECKS are listed, with why, in the README.
    assert re.search(r"System check identified no issues \(\d+ silenced\)\.", result.stdout), result.stdout
    readme = (ROOT / "README.md").read_text()
    assert settings.SILENCED_SYSTEM_CHECKS
    for check in settings.SILENCED_SYSTEM_CHECKS:
        assert f"`{check}`" in readme, check


def test_production_pages_are_https_only_under_a_content_security_policy(compose):
    code = """if True:
        import json
        import django
        django.setup()
        from django.test import Client
        client = Client(HTTP_HOST="seats.example.com")
        plain = client.get("/api/docs/?script=")
        secure = client.get("/api/docs/?script=", headers={"X-Forwarded-Proto": "https"})
        mailbox = client.get("/_dev/mail/", headers={"X-Forwarded-Proto": "https"})
        print(json.dumps({
            "plain": [plain.status_code, plain.get("Location")],
            "secure": secure.status_code,
            "hsts": secure.get("Strict-Transport-Security"),
            "csp": secure.get("Content-Security-Policy"),
            "mailbox": mailbox.status_code,
        }))
    """
    result = run_python(code, production_env(compose))
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])

    assert loaded["plain"] == [301, "https://seats.example.com/api/docs/?script="]
    assert loaded["secure"] == 200
    assert loaded["hsts"] == "max-age=31536000; includeSubDomains"
    policy = {
        directive.split()[0]: directive.split()[1:] for directive in loaded["csp"].split("; ") if directive
    }
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-src"] == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert not any("unsafe" in source for sources in policy.values() for source in sources), policy
    assert loaded["mailbox"] == 404, "the dev mailbox is not even routed in production"


def refusal(env: dict[str, str]) -> str:
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0, "the settings loaded"
    return result.stderr.strip().splitlines()[-1]


def test_settings_with_no_environment_refuse_to_load():
    assert refusal({}) == (
        "django.core.exceptions.ImproperlyConfigured: "
        "SECRET_KEY must be set (./scripts/run and ./scripts/test set one of their own)."
    )


@pytest.mark.parametrize("secret_key", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("debug", ["0", "1"])
def test_settings_refuse_to_load_without_a_secret_key(compose, secret_key, debug):
    env = {**production_env(compose), "DEBUG": debug}
    del env["SECRET_KEY"]
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    assert "SECRET_KEY must be set" in refusal(env)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("REDIS_URL", "REDIS_URL must be set when DEBUG is off: every process must share one cache."),
        ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY must be set when DEBUG is off"),
        ("EMAIL_HOST", "EMAIL_HOST must be set when DEBUG is off: emails must reach people."),
    ],
)
def test_production_settings_refuse_to_load_without(compose, name, message):
    env = production_env(compose)
    del env[name]

    assert f"ImproperlyConfigured: {message}" in refusal(env)


def test_production_settings_refuse_the_dev_mailbox(compose):
    env = {**production_env(compose), "DEV_MAILBOX": "1"}

    assert refusal(env).endswith("ImproperlyConfigured: DEV_MAILBOX cannot be on when DEBUG is off.")


def test_production_settings_refuse_loopback_connected_orgs(compose):
    env = {**production_env(compose), "CONNECTED_ORG_ALLOW_LOOPBACK": "1"}

    assert refusal(env).endswith(
        "ImproperlyConfigured: CONNECTED_ORG_ALLOW_LOOPBACK cannot be on when DEBUG is off."
    )


@pytest.mark.parametrize("key", ["abc", "not-a-key,", "x" * 44])
def test_settings_refuse_an_encryption_key_fernet_cannot_use(compose, key):
    env = {**production_env(compose), "FIELD_ENCRYPTION_KEY": key}

    assert "ImproperlyConfigured: FIELD_ENCRYPTION_KEY is not a list of Fernet keys" in refusal(env)


def test_the_embedded_default_shares_its_cache_between_processes(tmp_path):
    code = """if True:
        import json
        import django
        from django.conf import settings
        django.setup()
        print(json.dumps([settings.DEBUG, settings.DEV_MAILBOX, settings.CACHES["default"]]))
    """
    env = {"DEBUG": "1", "SECRET_KEY": secrets.token_urlsafe(50)}
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    debug, mailbox, cache = json.loads(result.stdout.strip().splitlines()[-1])

    assert (debug, mailbox) == (True, False), "the mailbox is off unless asked for"
    assert cache["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert cache["LOCATION"] == str(ROOT / "var" / "cache")


def test_dockerfile_runs_as_an_unprivileged_user_with_weasyprint_libraries():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lib_sh = (ROOT / "scripts" / "lib.sh").read_text()
    weasyprint_debs = re.search(r"WEASYPRINT_DEBS=\(([^)]*)\)", lib_sh)[1].split()

    assert re.search(r"^FROM python:3\.11-slim-bookworm$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}, users
    missing = [deb for deb in weasyprint_debs if deb not in dockerfile.split()]
    assert not missing, f"the image lacks {missing}, which scripts/bootstrap installs"
