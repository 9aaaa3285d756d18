"""Settings for bench/import_contacts.py: the product settings plus the bench-only peer app."""

import os
import tempfile

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "import_export", "bench.contacts_peer"]
CELERY_TASK_ALWAYS_EAGER = True  # the import runs in this process, through the same task code
MEDIA_ROOT = os.environ.get("BENCH_MEDIA_ROOT") or tempfile.mkdtemp(prefix="cr-bench-media-")
CONTACT_IMPORT_MAX_ROWS = 10_000_000
CONTACT_IMPORT_MAX_BYTES = 10 * 1024 ** 3
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
