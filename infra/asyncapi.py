"""Writes each service's AsyncAPI document (FastStream's) to docs/asyncapi/<service>.json.

`make asyncapi`; a running service also serves its own at /asyncapi.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI

from services.certificates.app import create as create_certificates
from services.query.app import create as create_query
from services.query.settings import QuerySettings
from services.recognition.app import create as create_recognition
from services.registry.app import create as create_registry
from services.supervision.app import create as create_supervision
from shared.platform.app import asyncapi_json

DOCS = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"


def service_apps() -> dict[str, FastAPI]:
    """The apps as configured for province 33; nothing is started or connected."""
    return {
        "registry": create_registry(),
        "recognition": create_recognition(),
        "certificates": create_certificates(),
        "supervision": create_supervision(),
        "query": create_query(
            QuerySettings(id_hash_key="documentation-only"),
            read_model_id="<read model id>",
        ),
    }


def main() -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, app in service_apps().items():
        document = json.loads(asyncapi_json(app.state.runtime))
        (DOCS / f"{name}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {DOCS / f'{name}.json'}")


if __name__ == "__main__":
    main()
