"""`/fhir/openapi.json`: an OpenAPI 3.0 document generated from the CapabilityStatement and the
OperationDefinitions it names, so API gateways and schemathesis see exactly what the server
says it does, with nothing written twice."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from adapter.http.fhir.responses import FHIR_JSON, base_url
from adapter.http.fhir.routes import blueprint
from fhir_profiles import registry

Doc = dict[str, Any]
PAGING = (("_count", "integer", "page size"), ("_offset", "integer", "first match to return"),
          ("_summary", "string", "count: the total only"))


def _schema(resource_type: str) -> Doc:
    return {"$ref": f"#/components/schemas/{resource_type}"}


def _body(resource_type: str) -> Doc:
    return {"content": {FHIR_JSON: {"schema": _schema(resource_type)}}}


def _responses(ok: str, resource_type: str, *errors: str) -> Doc:
    out: Doc = {ok: {"description": "success", **_body(resource_type)}}
    for status in errors:
        out[status] = {"description": "refused: the OperationOutcome says what and where",
                       **_body("OperationOutcome")}
    return out


def _query(name: str, kind: str, documentation: str, required: bool = False) -> Doc:
    return {"name": name, "in": "query", "required": required,
            "schema": {"type": kind}, "description": documentation}


def _id(name: str = "id") -> Doc:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string", "example": 'W/"3"'},
            "description": "the version the change was made against (412 if stale)"}


def _interactions(resource: Doc) -> dict[str, Doc]:
    kind = resource["type"]
    codes = {i["code"] for i in resource.get("interaction", [])}
    paths: dict[str, Doc] = {}
    if "search-type" in codes:
        params = [_query(p["name"], "string", p.get("documentation", p["type"]))
                  for p in resource.get("searchParam", [])]
        params += [_query(*p) for p in PAGING]
        paths.setdefault(f"/{kind}", {})["get"] = {
            "summary": f"search {kind}", "parameters": params,
            "responses": _responses("200", "Bundle", "400")}
    if "create" in codes:
        paths.setdefault(f"/{kind}", {})["post"] = {
            "summary": f"create {kind} (If-None-Exist for a conditional create)",
            "requestBody": {"required": True, **_body(kind)},
            "responses": _responses("201", kind, "400", "409", "412", "422")}
    if "read" in codes:
        paths.setdefault(f"/{kind}/{{id}}", {})["get"] = {
            "summary": f"read {kind}", "parameters": [_id()],
            "responses": _responses("200", kind, "404")}
    if "update" in codes:
        paths.setdefault(f"/{kind}/{{id}}", {})["put"] = {
            "summary": f"update {kind}", "parameters": [_id(), IF_MATCH],
            "requestBody": {"required": True, **_body(kind)},
            "responses": _responses("200", kind, "400", "404", "412", "422")}
    if "delete" in codes:
        paths.setdefault(f"/{kind}/{{id}}", {})["delete"] = {
            "summary": f"delete {kind}", "parameters": [_id()],
            "responses": _responses("200", "OperationOutcome", "404")}
    if "history-instance" in codes:
        paths[f"/{kind}/{{id}}/_history"] = {"get": {
            "summary": f"every version of a {kind}", "parameters": [_id()],
            "responses": _responses("200", "Bundle", "404")}}
    if "history-type" in codes:
        paths[f"/{kind}/_history"] = {"get": {
            "summary": f"every change to any {kind}, newest first",
            "parameters": [_query("_since", "string", "only changes at or after this instant"),
                           _query("_count", "integer", "at most this many")],
            "responses": _responses("200", "Bundle", "400")}}
    if "vread" in codes:
        paths[f"/{kind}/{{id}}/_history/{{vid}}"] = {"get": {
            "summary": f"one version of a {kind}", "parameters": [_id(), _id("vid")],
            "responses": _responses("200", kind, "404")}}
    return paths


def _operation(on: str | None, reference: Doc) -> dict[str, Doc]:
    definition = registry.by_url(reference["definition"])
    if definition is None:
        return {}
    code = definition["code"]
    inputs = [p for p in definition.get("parameter", []) if p["use"] == "in"]
    out: dict[str, Doc] = {}
    prefix = f"/{on}" if on else ""
    common = {"summary": definition.get("title", code),
              "description": definition.get("description", "")}
    for level, path in (("type", f"{prefix}/${code}"), ("instance", f"{prefix}/{{id}}/${code}"),
                        ("system", f"/${code}")):
        if not definition.get(level) or (level == "system") != (on is None):
            continue
        path_params = [_id()] if level == "instance" else []
        item: Doc = {}
        if not definition.get("affectsState") and all(p.get("type") not in (None, "Resource")
                                                       for p in inputs):
            item["get"] = {**common, "parameters": path_params + [
                _query(p["name"], "string", p.get("documentation", p.get("type", "")),
                       p.get("min", 0) > 0) for p in inputs],
                "responses": _responses("200", "Parameters", "400", "404")}
        item["post"] = {**common, "parameters": path_params,
                        "requestBody": {"required": True, **_body("Parameters")},
                        "responses": _responses("200", "Resource", "400", "404", "412",
                                                "422")}
        out[path] = item
    return out


PUBLISHED = {*registry.CONFORMANCE_TYPES, "Basic"}  # the topics are public too


def document(statement: Doc, server: str) -> Doc:
    rest = statement["rest"][0]
    paths: dict[str, Doc] = {"/metadata": {"get": {
        "summary": "the CapabilityStatement",
        "responses": _responses("200", "CapabilityStatement")}}}
    for resource in rest.get("resource", []):
        paths.update(_interactions(resource))
        for reference in resource.get("operation", []):
            paths.update(_operation(resource["type"], reference))
    for reference in rest.get("operation", []):
        paths.update(_operation(None, reference))
    kinds = sorted({r["type"] for r in rest.get("resource", [])} | {
        "Bundle", "CapabilityStatement", "OperationOutcome", "Parameters", "Resource"})
    schemas = {k: {"type": "object", "required": ["resourceType"],
                   "properties": {"resourceType": {"type": "string"} if k == "Resource"
                                  else {"type": "string", "enum": [k]}},
                   "additionalProperties": True} for k in kinds}
    # Everything needs a bearer token but what is published (adapter.http.policy.PUBLIC).
    for path, item in paths.items():
        if path == "/metadata" or path.split("/")[1] in PUBLISHED:
            for operation in item.values():
                operation["security"] = []
    return {"openapi": "3.0.3",
            "info": {"title": statement.get("title", statement.get("name", "FHIR API")),
                     "version": statement.get("version", "0"),
                     "description": statement.get("description", "")},
            "servers": [{"url": server}], "paths": paths,
            "security": [{"bearer": []}],
            "components": {"schemas": schemas, "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": rest.get("security", {}).get("description", "")}}}}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(registry.capability_statement(base_url()), base_url()))
