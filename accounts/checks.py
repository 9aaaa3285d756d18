"""System checks: configuration that would break every PHI page is refused at start-up.

`manage.py check` (and runserver, migrate) run these; production's settings also refuse to
import with a malformed ring, so gunicorn never starts a worker that cannot read PHI.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from accounts.crypto import key_ring_problems


@checks.register(checks.Tags.security)
def check_phi_master_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A malformed PHI_MASTER_KEYS is an Error in production (refuse to start), a Warning otherwise."""
    level = checks.Error if getattr(settings, "PRODUCTION", False) else checks.Warning
    return [
        level(problem, hint="Fix PHI_MASTER_KEYS: comma-separated base64 keys of 32 bytes, newest "
                            "first (python manage.py generate_master_key makes one).",
              id="accounts.E001" if level is checks.Error else "accounts.W001")
        for problem in key_ring_problems(settings.PHI_MASTER_KEYS)
    ]
