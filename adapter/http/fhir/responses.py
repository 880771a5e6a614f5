"""Building FHIR HTTP responses: content type, ETag and Location, Bundles."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from flask import Response, g, has_request_context, request
from pydantic import BaseModel

FHIR_JSON = "application/fhir+json"


def fhir_json(body: dict[str, Any] | BaseModel, status: int = 200,
              headers: dict[str, str] | None = None) -> Response:
    data = as_json(body)
    if has_request_context():
        g.s117_output = data  # what the audit record says this request returned
    response = Response(json.dumps(data, separators=(",", ":")), status=status,
                        mimetype=FHIR_JSON, headers=headers)
    response.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return response


def as_json(resource: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return resource.model_dump(mode="json", exclude_none=True) \
        if isinstance(resource, BaseModel) else resource


def resource_response(resource: BaseModel | dict[str, Any], status: int = 200) -> Response:
    """A single resource with its version as a weak ETag and Last-Modified (FHIR http 3.1.0.1.2)."""
    data = as_json(resource)
    headers = {}
    meta = data.get("meta") or {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if "lastUpdated" in meta:
        moment = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
        headers["Last-Modified"] = moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return fhir_json(data, status, headers)


def base_url() -> str:
    """Absolute base of the FHIR endpoint as the client reached it (for fullUrl, links)."""
    return request.host_url.rstrip("/") + "/fhir"


def bundle(kind: str, entries: list[dict[str, Any]], *, total: int | None = None,
           links: list[dict[str, str]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid4()),
                           "meta": {"lastUpdated": datetime.now(UTC).isoformat()},
                           "type": kind}
    if total is not None:
        out["total"] = total
    if links:
        out["link"] = links
    out["entry"] = entries
    return out


def entry(resource: BaseModel | dict[str, Any], mode: str | None = None) -> dict[str, Any]:
    data = as_json(resource)
    out: dict[str, Any] = {"fullUrl": f"{base_url()}/{data['resourceType']}/{data['id']}",
                           "resource": data}
    if mode:
        out["search"] = {"mode": mode}
    return out
