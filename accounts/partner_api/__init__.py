"""The partner API's shared frame: key authentication, the tenant scope, one base viewset,
one error shape, idempotent POSTs and per-key throttling. Each app's ``api.py`` builds its
endpoints on it; ``config/api.py`` only mounts the routers."""
