"""Outbound event webhooks to partner systems, following the Standard Webhooks specification.

``events`` (the registry and ``emit``), ``delivery`` (signing, the SSRF-safe request, retries),
``services`` (endpoints: register, rotate, disable, redeliver), ``tasks`` (their own queue).
"""
