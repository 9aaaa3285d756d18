"""Production refuses unsafe defaults and passes Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.crypto import generate_master_key

ROOT = Path(__file__).resolve().parents[1]
STRONG_SECRET = "Zq8#vL2!pW9@xN4$bR7%tY1^mC6&hJ3*Fk5(sD0)gA2-eU7+iO9=lP4"  # 56 characters, not a dev key


def manage(*args, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "PHI_MASTER_KEYS"))}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env_overrides})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def production(**overrides) -> dict:
    values = {"DJANGO_ENV": "production", "SECRET_KEY": STRONG_SECRET,
              "PHI_MASTER_KEYS": generate_master_key(), "ALLOWED_HOSTS": "care.example.org",
              "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:////tmp/unused.sqlite3")}
    values.update(overrides)
    return values


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize("secret", ["", "dev-abc" * 10, "short"])
def test_production_refuses_a_missing_default_or_weak_secret_key(secret):
    result = manage("check", **production(SECRET_KEY=secret))
    assert result.returncode != 0
    assert "Production needs SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_phi_master_keys():
    env = production()
    del env["PHI_MASTER_KEYS"]
    result = manage("check", **env)
    assert result.returncode != 0
    assert "Production needs PHI_MASTER_KEYS" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(STRONG_SECRET + "\n")
    keys_file = tmp_path / "phi_keys"
    keys_file.write_text(generate_master_key())
    env = production()
    del env["SECRET_KEY"], env["PHI_MASTER_KEYS"]
    result = manage("check", SECRET_KEY_FILE=str(secret_file), PHI_MASTER_KEYS_FILE=str(keys_file), **env)
    assert result.returncode == 0, result.stderr


def test_an_unknown_environment_name_is_refused():
    result = manage("check", DJANGO_ENV="staging")
    assert result.returncode != 0 and "DJANGO_ENV must be" in result.stderr


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    import re

    source = "\n".join(path.read_text() for path in (ROOT / "config").glob("settings*.py"))
    assert "CONTACT_IMPORT_MAX_BYTES" in source and "DATABASE_URL" in source  # both modules read
    read = set(re.findall(r'(?:env(?:\.\w+)?|secret)\(\s*"([A-Z_]+)"', source))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set(), "document these variables in .env.example"


def test_production_refuses_to_start_with_a_malformed_master_key_ring():
    result = manage("check", **production(PHI_MASTER_KEYS="not-a-key," + generate_master_key()))
    assert result.returncode != 0
    assert "PHI_MASTER_KEYS entry 1" in result.stderr


def test_development_check_reports_a_malformed_ring_as_a_warning():
    result = manage("check", PHI_MASTER_KEYS="c2hvcnQ=", DJANGO_ENV="development")
    assert "accounts.W001" in result.stdout + result.stderr


@pytest.mark.parametrize("client_logger", ["twilio.http_client", "httpx"])
def test_provider_clients_do_not_log_each_request(client_logger):
    # Each logs every request at INFO: query parameters (phone numbers) and signed media URLs.
    import logging

    assert not logging.getLogger(client_logger).isEnabledFor(logging.INFO)


def test_each_xdist_worker_gets_a_redis_database_of_its_own():
    from tests.xdist_redis import _own_database

    assert _own_database("redis://127.0.0.1:6379/4", "gw0") == "redis://127.0.0.1:6379/4"
    assert _own_database("redis://127.0.0.1:6379/4", "gw1") == "redis://127.0.0.1:6379/5"
    assert _own_database("redis://127.0.0.1:6379", "gw2") == "redis://127.0.0.1:6379/2"
    assert _own_database("redis://127.0.0.1:6379/15", "gw1") == "redis://127.0.0.1:6379/0"
    assert _own_database("rediss://user:secret@host:6380/1", "gw1") == "rediss://user:secret@host:6380/1"


def test_celery_reads_every_celery_setting_of_django_and_nothing_else():
    """config.celery's _CelerySettings: Django's CELERY_* values, read once (a miss is a dict miss,
    not Django's AttributeError); what the tests switch at run time goes through app.conf."""
    from django.conf import settings

    from config.celery import _CelerySettings, app

    source = _CelerySettings()
    assert set(source) == {name[7:].lower() for name in dir(settings) if name.startswith("CELERY_")}
    assert source["task_acks_late"] is settings.CELERY_TASK_ACKS_LATE is True
    with pytest.raises(KeyError):
        _ = source["task_send_sent_event"]  # a key no setting names
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_acks_late is True and app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    assert app.conf.task_send_sent_event is False  # Celery's default for what Django does not set
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_default_queue == settings.CELERY_TASK_DEFAULT_QUEUE
    # Celery's own names only: none is taken for a deprecated pre-4.0 setting (each warned at
    # every worker start).
    assert not app.conf.maybe_warn_deprecated_settings()


@pytest.mark.django_db
def test_postgresql_prepares_the_statements_a_connection_repeats():
    """Server-side binding with psycopg's prepare threshold: a repeated statement is parsed and
    (mostly) planned once per connection, not at every run."""
    from django.db import connection

    with connection.cursor() as cursor:
        for n in range(8):
            cursor.execute("SELECT %s::int + 1 AS carerelay_prepared_probe", [n])
            assert cursor.fetchone() == (n + 1,)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%carerelay_prepared_probe%"])
        assert cursor.fetchone() == (1,)


def test_prepared_statements_can_be_switched_off_for_a_transaction_mode_pooler():
    script = ("from django.conf import settings; o = settings.DATABASES['default'].get('OPTIONS', {}); "
              "print(o.get('server_side_binding'), o.get('prepare_threshold'))")
    database = {"DATABASE_URL": os.environ["DATABASE_URL"]}
    on = manage("shell", "-c", script, **database)
    assert on.stdout.splitlines()[-1].split() == ["True", "5"], on.stderr
    off = manage("shell", "-c", script, DB_PREPARED_STATEMENTS="false", **database)
    assert off.stdout.splitlines()[-1].split() == ["None", "None"], off.stderr
