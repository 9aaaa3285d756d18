"""/healthz reports the database and the broker; 503 when one is down."""

import pytest


@pytest.mark.django_db
def test_healthz_reports_ok_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_down(client, monkeypatch):
    from config import health

    monkeypatch.setattr(health, "_database_status", lambda: "down")
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"


@pytest.mark.django_db
def test_embedded_mode_reports_eager_tasks(client, settings):
    settings.REDIS_URL = ""
    assert client.get("/healthz").json()["broker"] == "eager"


# --- the PHI key ring (issue 15.12) ------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("ring", [["not base64 at all!"], ["c2hvcnQ="], []])
def test_healthz_is_unhealthy_when_the_master_key_ring_is_malformed(client, settings, ring):
    settings.PHI_MASTER_KEYS = ring
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["phi_keys"] == "down"


@pytest.mark.django_db
def test_healthz_is_unhealthy_when_a_stored_data_key_was_wrapped_by_a_key_not_in_the_ring(client, settings):
    from accounts.crypto import create_data_key, generate_master_key
    from tests.factories import OrganizationFactory

    create_data_key(OrganizationFactory().pk, "data")
    settings.PHI_MASTER_KEYS = [generate_master_key()]  # the key that wrapped it was dropped
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["phi_keys"] == "down"


@pytest.mark.parametrize("ring", [["%%%"], ["c2hvcnQ="], [], ["A" * 43, "A" * 43]])
def test_system_check_warns_about_a_malformed_ring_in_development(settings, ring):
    from django.core import checks

    from accounts.checks import check_phi_master_keys

    settings.PHI_MASTER_KEYS, settings.PRODUCTION = ring, False
    found = check_phi_master_keys()
    assert found and all(m.level == checks.WARNING for m in found)
    settings.PRODUCTION = True
    found = check_phi_master_keys()
    assert found and all(m.level == checks.ERROR for m in found)
    assert all("PHI_MASTER_KEYS" in m.msg for m in found)


def test_system_check_is_silent_for_a_good_ring(settings):
    from accounts.checks import check_phi_master_keys
    from accounts.crypto import generate_master_key

    settings.PHI_MASTER_KEYS = [generate_master_key(), generate_master_key()]
    assert check_phi_master_keys() == []


def test_a_key_with_stray_characters_is_malformed():
    from accounts.crypto import generate_master_key, key_ring_problems

    assert key_ring_problems([generate_master_key() + "!!"])


# --- the Docker HEALTHCHECK under production settings (issue 15.13) ----------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_server(django_db_setup, tmp_path):
    """gunicorn serving CareRelay with DJANGO_ENV=production and the documented ALLOWED_HOSTS."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.db import connection

    from accounts.crypto import generate_master_key

    root = Path(__file__).resolve().parents[1]
    port = _free_port()
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "PHI_MASTER_KEYS"))}
    env.update({
        "DJANGO_ENV": "production", "ALLOWED_HOSTS": "care.example.org", "PORT": str(port),
        "SECRET_KEY": "Zq8#vL2!pW9@xN4$bR7%tY1^mC6&hJ3*Fk5(sD0)gA2-eU7+iO9=lP4",
        "PHI_MASTER_KEYS": generate_master_key(), "CARERELAY_VAR_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    })
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):  # bounded wait for the port to open (≤ 30 s)
            if server.poll() is not None:
                pytest.fail("gunicorn exited: " + server.stderr.read().decode()[-2000:])
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield env, root
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_docker_healthcheck_is_answered_200_under_production_allowed_hosts(production_server):
    import json
    import re
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    env, root = production_server
    dockerfile = (root / "Dockerfile").read_text()
    command = re.search(r'HEALTHCHECK [^\n]*\\\n\s*CMD (\[.*\])', dockerfile).group(1)
    argv = json.loads(command)
    assert argv[0] == "python"
    # The exact HEALTHCHECK command, run as the container runs it.
    result = subprocess.run([sys.executable, *argv[1:]], cwd=root, env=env, timeout=30)
    assert result.returncode == 0
    # What the old probe did (no Host header: "127.0.0.1") is refused under these ALLOWED_HOSTS.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=10)
    assert refused.value.code == 400


def test_probe_host_is_one_that_allowed_hosts_accepts():
    from django.http.request import validate_host

    from config.healthcheck import probe_host

    for allowed in ["care.example.org", ".example.org", "*", "a.example.org,b.example.org", ""]:
        hosts = [h for h in allowed.split(",") if h] or ["localhost"]
        assert validate_host(probe_host(allowed), hosts)
