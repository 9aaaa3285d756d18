"""The permission matrix as Markdown: docs/roles.md holds this table, and a test keeps them equal.

Regenerate with: python -c "from accounts.roles_doc import write; write()"  (after django.setup())
or simply copy the table the failing test prints.
"""

from __future__ import annotations

from pathlib import Path

from accounts.roles import ROLE_PERMISSIONS, Perm, Role

BEGIN = "<!-- BEGIN GENERATED: permission matrix (accounts/roles.py) -->"
END = "<!-- END GENERATED -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "roles.md"


def matrix_markdown() -> str:
    """One row per permission, one column per role, ✓ where the role grants it."""
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(r.label for r in roles) + " |",
        "| --- | " + " | ".join(":---:" for _ in roles) + " |",
    ]
    for perm in Perm:
        cells = ["✓" if perm in ROLE_PERMISSIONS[r] else "" for r in roles]
        lines.append(f"| `{perm.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def generated_block(text: str) -> str:
    """The part of docs/roles.md between the markers."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip()


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + matrix_markdown() + "\n" + text[end:], encoding="utf-8")
