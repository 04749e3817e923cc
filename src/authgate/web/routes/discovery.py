"""What clients and operators discover: the public keys, OpenID discovery, health, metrics."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from authgate.metrics import CONTENT_TYPE_LATEST
from authgate.web.bodies import ErrorOut
from authgate.web.routes.deps import Database, Svc

router = APIRouter()


@router.get("/.well-known/jwks.json", responses={304: {"description": "Not Modified"}})
def jwks(svc: Svc, request: Request) -> Response:
    """The public signing keys (RFC 7517), with an ETag for cheap revalidation."""
    body = json.dumps(svc.jwks(), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/metrics", include_in_schema=False)
def metrics(svc: Svc) -> Response:
    """Prometheus metrics of this process (keep the route internal at the load balancer)."""
    return Response(svc.metrics(), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/openid-configuration")
def openid_configuration(svc: Svc) -> JSONResponse:
    """Discovery: where the keys and the token endpoint are (OpenID Connect Discovery 1.0)."""
    return JSONResponse(
        svc.discovery(),
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": ErrorOut}})
async def ready(svc: Svc, db: Database) -> JSONResponse:
    """Readiness: the database answers. `warnings` names weaknesses of the configuration."""
    try:
        await db.run(svc.check_ready)
    except Exception:  # any driver error means "not ready"; the probe must not 500
        return JSONResponse({"error": "not_ready", "detail": "the database is unreachable"}, 503)
    return JSONResponse({"status": "ready", "warnings": list(svc.warnings)})
