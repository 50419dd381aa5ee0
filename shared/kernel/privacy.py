"""How personal identifiers are shown to the public."""

from __future__ import annotations


def mask_id_number(id_number: str) -> str:
    """Keeps the region (first 6) and the last 4 characters: 330106********002X."""
    if len(id_number) <= 10:
        return id_number[:1] + "*" * max(len(id_number) - 2, 0) + id_number[-1:]
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
