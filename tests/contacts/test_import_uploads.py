"""Uploads are sealed as they stream: no plaintext byte of a patient list on disk, ever
(issue 15 #5) — and a server set-up under which a slow upload completes."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from accounts import uploads
from contacts.importing import service, storage
from contacts.models import ImportJob

ROOT = Path(__file__).resolve().parents[2]
MARKER = "Secretname-Plaintext"


def big_csv(rows: int = 30_000) -> bytes:
    notes = (MARKER + " ") * 3
    lines = ["First name,Last name,Phone,Notes"] + [
        f"{MARKER},P{n},+1415{200 + n // 10_000:03d}{n % 10_000:04d},{notes}" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def plaintext_on_disk(*directories: Path) -> list[Path]:
    """Every file under these folders holding a recognisable piece of the upload."""
    found = []
    for directory in directories:
        for path in Path(directory).rglob("*"):
            if path.is_file() and MARKER.encode() in path.read_bytes():
                found.append(path)
    return found


def test_a_sealed_spool_round_trips_and_holds_no_plaintext(tmp_path):
    data = big_csv(20_000)
    spool = uploads.EncryptedSpool(tmp_path)
    for at in range(0, len(data), 64 * 1024):
        spool.write(data[at:at + 64 * 1024])
        assert not plaintext_on_disk(tmp_path)  # at every point of the stream
    spool.finish()
    assert not plaintext_on_disk(tmp_path)
    assert b"".join(spool.chunks()) == data
    assert b"".join(spool.chunks()) == data  # readable again
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_or_cut_spool_is_refused(tmp_path):
    spool = uploads.EncryptedSpool(tmp_path)
    spool.write(b"x" * (uploads.CHUNK + 10))
    spool.finish()
    raw = bytearray(spool.path.read_bytes())
    raw[40] ^= 1
    spool.path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="did not authenticate"):
        b"".join(spool.chunks())
    spool.path.write_bytes(bytes(raw[: uploads.CHUNK // 2]))
    with pytest.raises(ValueError):
        b"".join(spool.chunks())


def test_a_process_killed_mid_upload_leaves_only_ciphertext(tmp_path):
    data = big_csv(20_000)
    pid = os.fork()
    if pid == 0:  # the web worker, killed half-way through receiving the file
        try:
            spool = uploads.EncryptedSpool(tmp_path)
            spool.write(data[: len(data) // 2])
            spool._file.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    (left,) = list(tmp_path.iterdir())
    assert left.name.startswith(uploads.PREFIX) and left.stat().st_size > len(data) // 3
    assert not plaintext_on_disk(tmp_path)  # its key died with the process


def test_the_sweep_deletes_spools_left_by_dead_processes(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    spool = uploads.EncryptedSpool()
    spool.write(b"abc")
    assert uploads.remove_stale_spools() == 0  # an upload under way is left alone
    with time_machine.travel(time.time() + 2 * 24 * 3600):
        assert uploads.remove_stale_spools() == 1
    assert list(tmp_path.iterdir()) == []


def test_an_import_upload_never_puts_plaintext_on_disk(tenant_a, settings, monkeypatch, tmp_path):
    spool_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    seen_during_request: list[list[Path]] = []
    real_upload = service.upload_file

    def check_disk_then_upload(**kwargs):
        # The request body has been read entirely by now: wherever Django put it, look there.
        seen_during_request.append(plaintext_on_disk(spool_dir, tmp_path))
        assert list(spool_dir.glob(f"{uploads.PREFIX}*")), "the upload was spooled (sealed)"
        return real_upload(**kwargs)

    monkeypatch.setattr(service, "upload_file", check_disk_then_upload)
    client = tenant_a.client_for("staff")
    assert len(big_csv()) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE  # Django would spool this to disk
    response = client.post(reverse("contacts:import_upload"), {"file": io.BytesIO(big_csv())})
    assert response.status_code == 302 and "/map/" in response["Location"]
    assert seen_during_request == [[]]
    assert list(spool_dir.iterdir()) == []  # the spool is deleted with the request
    with tenant_a.scope():
        job = ImportJob.objects.get()
    # The importer read it back, whole and unchanged, through the handler.
    with storage.open_upload(job.organization_id, job.uuid) as stored:
        assert stored.read() == big_csv()
    assert (job.size_bytes, job.headers) == (len(big_csv()), ["First name", "Last name", "Phone", "Notes"])
    assert not plaintext_on_disk(spool_dir, tmp_path)


def test_the_upload_handler_is_the_one_configured():
    assert settings.FILE_UPLOAD_HANDLERS == ["django.core.files.uploadhandler.MemoryFileUploadHandler",
                                             "accounts.uploads.EncryptedFileUploadHandler"]


# --- the server: a slow upload is not killed by the worker timeout ------------------------------

SLOW_APP = '''
def app(environ, start_response):
    body = environ["wsgi.input"]
    total = 0
    while True:
        block = body.read(65536)
        if not block:
            break
        total += len(block)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(str(total))))])
    return [str(total).encode()]
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slow_post(port: int, size: int, seconds: float) -> bytes:
    """POST `size` bytes at a steady trickle over `seconds` (a slow link); the response body."""
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with sock:
        sock.sendall(f"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n"
                     "Connection: close\r\n\r\n".encode())
        steps = 20
        piece = b"x" * (size // steps)
        response = b""
        try:
            for _ in range(steps):
                sock.sendall(piece)
                time.sleep(seconds / steps)
            sock.sendall(b"x" * (size - len(piece) * steps))
            while chunk := sock.recv(65536):
                response += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server dropped the connection mid-upload
    return response


@pytest.mark.parametrize(("worker_class", "completes"), [("", True), ("sync", False)],
                         ids=["our-config", "sync-workers"])
def test_an_upload_slower_than_the_worker_timeout_completes_under_our_gunicorn_config(
        tmp_path, worker_class, completes):
    (tmp_path / "slow_upload_app.py").write_text(SLOW_APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_TIMEOUT": "2", "WEB_CONCURRENCY": "1"}
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config" / "gunicorn.py")]
    if worker_class:  # (gunicorn turns sync into gthread when threads > 1)
        command += ["--worker-class", worker_class, "--threads", "1"]
    server = subprocess.Popen([*command, "slow_upload_app:app"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        response = slow_post(port, 2_000_000, seconds=5)  # 2.5x the worker timeout
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    if completes:
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"2000000"), log[-2000:]
    else:  # why the config matters: a sync worker is killed mid-upload
        assert not response.startswith(b"HTTP/1.1 200")
        assert b"WORKER TIMEOUT" in log
