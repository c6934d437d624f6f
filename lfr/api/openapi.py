"""Render the API's OpenAPI document (committed as `schemas/openapi.json`; a test fails when
the two drift). Regenerate with `python -m lfr.api.openapi > schemas/openapi.json`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    """The document of an app with every optional router present (collaborators unused)."""
    from fastapi import APIRouter

    from lfr.api.app import create_app
    from lfr.api.auth import AuthConfig, TokenVerifier
    from lfr.api.push import PushService, VapidKey

    whip = _whip_router() or APIRouter()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            store=_NoStore(),  # type: ignore[arg-type]
            verifier=TokenVerifier(AuthConfig(), Ed25519PrivateKey.generate().public_key()),
            data_dir=Path(tmp),
            push=PushService(VapidKey(ec.generate_private_key(ec.SECP256R1()))),
            whip_router=whip,
        )
        doc: dict[str, Any] = app.openapi()
    return doc


class _NoStore:
    """Stands in for the store: the document needs the routes, not the data."""


def _whip_router() -> Any:
    try:
        from lfr.video.whip import WhipIngest
    except ImportError:
        return None
    return WhipIngest(["cam"]).router


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
