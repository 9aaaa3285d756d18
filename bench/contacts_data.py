"""A realistic messy patient spreadsheet for the import benchmark (deterministic by seed).

Mixed phone formats (E.164, national with punctuation, Excel-mangled digits, 00-prefixed
international), ~2% invalid phones, ~3% duplicate patients, blank cells, 3 custom fields.
"""

from __future__ import annotations

import csv
import datetime
import random
from pathlib import Path

FIRST = ["Marie", "Ada", "Grace", "Alan", "Zoë", "José", "Aïcha", "Li", "Fatima", "Noah", "Olivia", "Liam",
         "Emma", "Mateo", "Sofía", "Chloé", "Ahmed", "Yuki", "Priya", "Oluwaseun", "Björn", "Siobhán"]
LAST = ["Curie", "Lovelace", "Hopper", "Turing", "Nelson", "García", "Nguyen", "Smith", "O'Brien", "Kowalski",
        "Müller", "Dubois", "Okafor", "Tanaka", "Patel", "Rossi", "Johansson", "Murphy", "Silva", "Kim"]
AREAS = [201, 202, 206, 212, 213, 305, 312, 404, 415, 503, 512, 602, 617, 646, 702, 713, 718, 773, 818, 919]
PLANS = ["Aetna PPO", "Blue Shield", "Medicare", "Medicaid", "Kaiser", "", "Cigna HMO"]
HEADER = ["First Name", "Last Name", "Mobile", "Email", "Date of Birth", "Insurance", "Visits", "Last Visit"]


def _phone(rng: random.Random) -> tuple[str, str]:
    """(canonical digits, how the spreadsheet wrote it)."""
    area, exchange, line = rng.choice(AREAS), rng.randint(200, 989), rng.randint(0, 9999)
    digits = f"{area}{exchange}{line:04d}"
    style = rng.random()
    if style < 0.3:
        written = f"+1{digits}"
    elif style < 0.55:
        written = f"({area}) {exchange}-{line:04d}"
    elif style < 0.7:
        written = f"{area}.{exchange}.{line:04d}"
    elif style < 0.85:
        written = digits  # an Excel numeric cell: the + or leading 1 is gone
    elif style < 0.95:
        written = f"1-{area}-{exchange}-{line:04d}"
    else:
        written = f"001{digits}"
    return digits, written


def generate(path: Path, rows: int, seed: int = 4) -> dict[str, int]:
    """Write the file; returns how many rows are invalid and duplicated (for sanity checks)."""
    rng = random.Random(seed)
    earlier: list[list[str]] = []
    stats = {"invalid": 0, "duplicates": 0}
    start = datetime.date(1930, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            roll = rng.random()
            if roll < 0.03 and earlier:
                writer.writerow(rng.choice(earlier))
                stats["duplicates"] += 1
                continue
            first, last = rng.choice(FIRST), rng.choice(LAST)
            _, phone = _phone(rng)
            if roll > 0.98:
                phone = rng.choice(["12345", "555-CALL-NOW", "+1 000 000 0000", "n/a"])
                stats["invalid"] += 1
            dob = start + datetime.timedelta(days=rng.randint(0, 33000))
            row = [
                first, last, phone,
                (f"{first.lower()}.{last.lower()}{n}@example.org".replace("'", "")
                 if rng.random() < 0.7 else ""),
                dob.isoformat() if rng.random() < 0.5 else dob.strftime("%m/%d/%Y"),
                rng.choice(PLANS), str(rng.randint(0, 40)),
                (datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randint(0, 600))).isoformat(),
            ]
            writer.writerow(row)
            if len(earlier) < 5000:
                earlier.append(row)
            elif rng.random() < 0.01:
                earlier[rng.randrange(5000)] = row
    return stats
