"""Refusals the HTTP edge makes for every service, before a route runs, in the shape of any other field error."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shared.kernel.errors import FieldError, FieldErrors

NUL_REASON = "contains a NUL character (U+0000), which no text here may hold"


async def refuse_nul_characters(request: Request) -> None:
    """422 naming every path or query parameter and JSON body field (or key) that holds a NUL character, before
    the route runs: no text column takes one (PostgreSQL refuses it, and the request would end in a 500)."""
    fields = [name for name, value in request.path_params.items() if "\x00" in str(value)]
    fields += [name for name, value in request.query_params.multi_items() if "\x00" in value or "\x00" in name]
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # A JSON document only: an NDJSON upload is streamed by its route, which refuses a NUL line by line, and is
    # not read whole into memory here.
    is_json = media_type == "application/json" or media_type.endswith("+json")
    if is_json and b"\\u0000" in await request.body():
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # not JSON, or too deep: what reads the body names that
            body = None
        fields += nul_fields(body)
    if fields:
        raise FieldErrors([FieldError(field, NUL_REASON) for field in dict.fromkeys(fields)])


def nul_fields(document: Any) -> list[str]:
    """The dotted paths (`candidates.3.name`, as validation errors name them) of the strings in a parsed JSON
    document, values or keys, that hold a NUL character."""
    found: list[str] = []
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                found.append(path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    found.append(child)
                pending.append((child, item))
        elif isinstance(value, list):
            pending.extend((f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value))
    return sorted(found)
