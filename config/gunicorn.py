"""gunicorn settings for CareRelay's web process: `gunicorn -c config/gunicorn.py config.wsgi`.

Chosen so that a 200 MB contact import over a slow link completes (docs: README "Production"):

- gthread workers: a request is served by a thread while the worker's main thread keeps
  telling the arbiter it is alive, so `timeout` bounds a *stuck worker*, not a long request.
  With the default sync workers, `timeout` (30 s) kills any request that takes longer to
  arrive — a 200 MB upload at 2 MB/s needs 100 s — and leaves its temporary file behind.
- The upload itself never sits on disk in plaintext (accounts/uploads.py seals it as it arrives).
- Access log lines carry the path without its query string, so nothing typed into a search
  (a name, a phone number) reaches the log.

Every value can be overridden from the environment (the variables below) or the command line.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Threads per worker: requests served at once per worker (uploads and imports included).
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Seconds a worker's main loop may stay silent before the arbiter restarts it (not a request limit).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# A restart (deploy) waits this long for requests in flight — an upload under way — to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "300"))
keepalive = 5
# The heartbeat file lives in memory, not on a container's overlay filesystem (which can stall).
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's heartbeat file only, no data
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", _SHM if os.path.isdir(_SHM) else None)
# No runtime control socket (gunicorn ≥ 25): nothing uses it, and every instance on a host would
# share its one default path.
control_socket_disable = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
