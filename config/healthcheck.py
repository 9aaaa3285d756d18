"""The Docker HEALTHCHECK probe, `python -m config.healthcheck`: it loads no Django settings.

It asks /healthz on the container's own port with a Host header that the deployment's
ALLOWED_HOSTS accepts: Django answers 400 to a request for `127.0.0.1` when ALLOWED_HOSTS
names only the public host (the documented `ALLOWED_HOSTS=care.example.org`).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host(allowed_hosts: str) -> str:
    """A host name that ALLOWED_HOSTS (comma-separated, as in the environment) accepts."""
    for entry in (h.strip() for h in allowed_hosts.split(",")):
        if not entry:
            continue
        if entry == "*":
            return "localhost"
        # ".example.org" matches example.org and every subdomain of it.
        return entry.lstrip(".")
    return "localhost"


def probe_request(environ=os.environ) -> urllib.request.Request:
    """The request the HEALTHCHECK sends: /healthz on this container, with an allowed Host."""
    port = environ.get("PORT", "8000")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz")
    request.add_header("Host", probe_host(environ.get("ALLOWED_HOSTS", "")))
    return request


def main() -> int:
    try:
        with urllib.request.urlopen(probe_request(), timeout=4) as response:  # noqa: S310 - fixed http URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


if __name__ == "__main__":
    sys.exit(main())
