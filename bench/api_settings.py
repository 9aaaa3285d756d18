"""Settings for bench/api.py: the product settings plus the bench-only peer app and its URL."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.api_peer"]
ROOT_URLCONF = "bench.api_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
