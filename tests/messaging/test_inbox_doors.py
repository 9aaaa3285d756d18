"""Messaging's web doors read PHI only through selectors and services.

No inbox, thread, simulator or polling view touches ``.objects`` of a model with encrypted
fields (or of Conversation, which joins the contact): such reads belong in
messaging.selectors, where they check the actor and record the audit event.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps

from accounts.fields import encrypted_fields

VIEWS = Path(__file__).resolve().parents[2] / "messaging" / "views"
# Channel set-up pages belong to the channel work (their own guard covers them).
DOORS = [*sorted(p for p in VIEWS.glob("*.py") if p.name not in {"__init__.py", "channels.py"}),
         VIEWS.parent / "templatetags" / "messaging_ui.py"]


def phi_models() -> set[str]:
    names = {m.__name__ for m in apps.get_models() if encrypted_fields(m)}
    return names | {"Conversation"}


def manager_uses(path: Path) -> list[str]:
    """``Name.objects`` (and ``Name._default_manager``) uses in a module, as "Name:line"."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and node.attr in {"objects", "_default_manager", "_base_manager"}
                and isinstance(node.value, ast.Name)):
            found.append((node.value.id, node.lineno))
    return [f"{name}:{line}" for name, line in found]


def test_the_guard_sees_a_direct_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from messaging.models import Message\n\ndef view(request):\n"
                      "    return list(Message.objects.all())\n")
    assert manager_uses(sample) == ["Message:4"]
    assert "Message" in phi_models() and "Contact" in phi_models()


def test_no_messaging_door_reads_a_phi_model_directly():
    phi = phi_models()
    offenders = {path.name: [use for use in manager_uses(path) if use.split(":")[0] in phi] for path in DOORS}
    assert {name: uses for name, uses in offenders.items() if uses} == {}
