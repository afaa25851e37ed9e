"""The OpenAPI 3.1 document of tagtrail's own endpoints: the token service and both tag
history APIs (the OCI distribution API itself is specified elsewhere: of it, only the
operations where tagtrail takes an option the spec leaves open are here). Served at
``GET /openapi.json`` without authentication; a test checks live responses against it.

Repository names hold ``/``; OpenAPI path parameters cannot, so ``{name}`` is documented as
the whole path between ``/v2/`` and the API's suffix.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail import __version__
from tagtrail.types import OCI_INDEX

OCI_TIMESTAMP = "org.opencontainers.distribution.tag.timestamp"
OCI_EVENT = "org.opencontainers.distribution.tag.event"
_TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_DIGEST_PATTERN = r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("ErrorResponse")}},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Repository name; may contain '/' (e.g. chainguard/python).",
    "schema": {"type": "string"},
}
_TAG = {
    "name": "tag",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$"},
}
_LINK = {
    "description": 'The next page: `</v2/...?...>; rel="next"` (host-relative); absent on the '
    "last page.",
    "schema": {"type": "string"},
}
_INSTANT = {
    "type": "string",
    "description": "RFC 3339 / ISO 8601 timestamp; without an offset it is UTC. Timestamps "
    "carry milliseconds; finer bounds are rounded to the millisecond that keeps the same records.",
}

_SCHEMAS: dict[str, Any] = {
    "ErrorResponse": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "detail": {},
                    },
                },
            }
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "access_token", "expires_in", "issued_at"],
        "properties": {
            "token": {"type": "string", "description": "ES256 JWT; same as access_token."},
            "access_token": {"type": "string"},
            "expires_in": {"type": "integer", "minimum": 1, "description": "Seconds."},
            "issued_at": {"type": "string", "format": "date-time"},
            "refresh_token": {
                "type": "string",
                "description": "With offline_token=true and credentials.",
            },
        },
        "additionalProperties": False,
    },
    "OAuthToken": {
        "type": "object",
        "required": ["access_token", "scope", "expires_in", "issued_at"],
        "properties": {
            "access_token": {"type": "string"},
            "scope": {"type": "string", "description": "The granted scopes, space-separated."},
            "expires_in": {"type": "integer", "minimum": 1},
            "issued_at": {"type": "string", "format": "date-time"},
            "refresh_token": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "TokenForm": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
            "username": {"type": "string"},
            "password": {"type": "string"},
            "refresh_token": {"type": "string"},
            "scope": {"type": "string", "description": "Space-separated scopes."},
            "service": {"type": "string"},
            "client_id": {"type": "string"},
            "access_type": {"type": "string", "enum": ["online", "offline"]},
        },
    },
    "HistoryRecord": {
        "type": "object",
        "required": ["updateTimestamp", "digest"],
        "properties": {
            "updateTimestamp": {"type": "string", "pattern": _TIMESTAMP_PATTERN},
            "digest": {"type": "string", "pattern": _DIGEST_PATTERN},
        },
        "additionalProperties": False,
    },
    "TagHistory": {
        "type": "object",
        "required": ["history"],
        "properties": {
            "history": {
                "type": "array",
                "maxItems": 1000,
                "description": "Moves of the tag, oldest first (deletions are not listed).",
                "items": _ref("HistoryRecord"),
            }
        },
        "additionalProperties": False,
    },
    "TagHistoryEntry": {
        "type": "object",
        "required": ["mediaType", "size", "digest", "annotations"],
        "properties": {
            "mediaType": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "digest": {"type": "string", "pattern": _DIGEST_PATTERN},
            "annotations": {
                "type": "object",
                "required": [OCI_TIMESTAMP, OCI_EVENT],
                "properties": {
                    OCI_TIMESTAMP: {"type": "string", "pattern": _TIMESTAMP_PATTERN},
                    OCI_EVENT: {"type": "string", "enum": ["created", "deleted"]},
                },
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "OciTagHistory": {
        "type": "object",
        "required": ["schemaVersion", "mediaType", "manifests"],
        "properties": {
            "schemaVersion": {"const": 2},
            "mediaType": {"const": OCI_INDEX},
            "manifests": {
                "type": "array",
                "maxItems": 1000,
                "description": "Assignments and deletions, newest first.",
                "items": _ref("TagHistoryEntry"),
            },
        },
    },
}

_RESPONSES: dict[str, Any] = {
    "BadRequest": _error("Malformed request (bad name, tag, timestamp, digest, n or scope)."),
    "Unauthorized": {
        "description": "No valid credentials or token scope. `WWW-Authenticate` names the "
        'token realm, service and scope: `Bearer realm="...",service="...",scope="..."` '
        '(or `Basic realm="tagtrail"` from the token endpoint).',
        "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": _ref("ErrorResponse")}},
    },
    "AuthDisabled": _error("The registry runs without authentication (--no-auth)."),
}

_TOKEN_GET = {
    "summary": "Get a token (Docker registry token specification)",
    "operationId": "getToken",
    "security": [{}, {"basic": []}],
    "parameters": [
        _query("service", "Must be the registry's service name when given.", {"type": "string"}),
        {
            **_query(
                "scope",
                "Repeatable; each holds space-separated scopes such as "
                "repository:chainguard/python:pull.",
                {"type": "array", "items": {"type": "string"}},
            ),
            "explode": True,
        },
        _query("offline_token", "true: also return a refresh token.", {"type": "string"}),
        _query("client_id", "Client name (informational).", {"type": "string"}),
        _query("account", "User name (informational).", {"type": "string"}),
    ],
    "responses": {
        "200": {
            "description": "A token granting the requested scopes the caller may have; "
            "scopes it may not have are left out (anonymous callers get public access only).",
            "content": {"application/json": {"schema": _ref("Token")}},
        },
        "400": _response("BadRequest"),
        "401": _response("Unauthorized"),
        "405": _response("AuthDisabled"),
    },
}

_TOKEN_POST = {
    "summary": "Get a token (OAuth2: password or refresh_token grant)",
    "operationId": "postToken",
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": _ref("TokenForm")}},
    },
    "responses": {
        "200": {
            "description": "A token; refresh_token with access_type=offline or a refresh grant.",
            "content": {"application/json": {"schema": _ref("OAuthToken")}},
        },
        "400": _response("BadRequest"),
        "401": _response("Unauthorized"),
        "405": _response("AuthDisabled"),
    },
}

_CHAINGUARD_HISTORY = {
    "summary": "Tag History API (Chainguard-compatible)",
    "description": "Every digest the tag pointed to, oldest first, start and end inclusive, "
    "at most 1000 records a response; a `Link` header names the next page.",
    "operationId": "getTagHistory",
    "security": [{"bearer": []}],
    "parameters": [
        _NAME,
        _TAG,
        _query("start", "Only records at or after this time.", _INSTANT),
        _query("end", "Only records at or before this time.", _INSTANT),
    ],
    "responses": {
        "200": {
            "description": "A page of the tag's history.",
            "headers": {"Link": _LINK},
            "content": {"application/json": {"schema": _ref("TagHistory")}},
        },
        "400": _response("BadRequest"),
        "401": _response("Unauthorized"),
        "404": _error("Unknown repository (NAME_UNKNOWN) or tag (MANIFEST_UNKNOWN)."),
    },
}

_OCI_HISTORY = {
    "summary": "Tag history (draft OCI extension)",
    "description": "Assignments and deletions of the tag, newest first, as an OCI index. An "
    "unknown repository or tag is an empty list. `before`/`since` are strict bounds; "
    "the state at T is `?before=<T + 1 ms>&n=1`.",
    "operationId": "getOciTagHistory",
    "security": [{"bearer": []}],
    "parameters": [
        _NAME,
        _TAG,
        _query(
            "n",
            "Most entries to return (at most 1000 are); 0 probes support.",
            {"type": "integer", "minimum": 0},
        ),
        _query("before", "Only entries strictly older than this time.", _INSTANT),
        _query("since", "Only entries strictly newer than this time.", _INSTANT),
        _query(
            "digest",
            "Only entries for this digest.",
            {"type": "string", "pattern": _DIGEST_PATTERN},
        ),
    ],
    "responses": {
        "200": {
            "description": "A page of the tag's history.",
            "headers": {"Link": _LINK},
            "content": {OCI_INDEX: {"schema": _ref("OciTagHistory")}},
        },
        "400": _response("BadRequest"),
        "401": _response("Unauthorized"),
    },
}

_REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "A tag or a digest.",
    "schema": {"type": "string"},
}
_DIGEST = {
    "name": "digest",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": _DIGEST_PATTERN},
}

_MANIFEST_GET = {
    "summary": "Pull a manifest (OCI distribution API)",
    "description": "Authorisation comes first: without pull on the repository the answer is "
    "401, whatever the reference. A reference that is neither a valid tag nor a digest "
    "names no manifest: 404 MANIFEST_UNKNOWN, as for any missing manifest.",
    "operationId": "getManifest",
    "security": [{"bearer": []}],
    "parameters": [_NAME, _REFERENCE],
    "responses": {
        "200": {"description": "The manifest, byte for byte as pushed."},
        "401": _response("Unauthorized"),
        "404": _error("No such manifest, or no valid reference (MANIFEST_UNKNOWN)."),
    },
}

_MANIFEST_PUT = {
    "summary": "Push a manifest (OCI distribution API)",
    "description": "Every blob a manifest references must be in the repository, except "
    "non-distributable layers (application/vnd.oci.image.layer.nondistributable.*, "
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip) that carry http(s) `urls`, "
    "unless allow_nondistributable_artifacts is off. Pushed by digest, the `tag` parameters "
    "set each tag (with its history record) in one transaction, all or none.",
    "operationId": "putManifest",
    "security": [{"bearer": []}],
    "parameters": [
        _NAME,
        _REFERENCE,
        {
            **_query(
                "tag",
                "Repeatable, with a digest reference only: tags to point at the manifest "
                "(at most 100).",
                {"type": "array", "items": _TAG["schema"], "maxItems": 100},
            ),
            "explode": True,
        },
    ],
    "responses": {
        "201": {
            "description": "Stored (and tagged).",
            "headers": {
                "Docker-Content-Digest": {"required": True, "schema": {"type": "string"}},
                "OCI-Tag": {
                    "description": "One header per tag the `tag` parameters set.",
                    "schema": {"type": "string"},
                },
            },
        },
        "400": _error(
            "Invalid manifest, digest or tag (also: `tag` parameters with a tag reference, or "
            "more than 100), or a referenced blob not in the repository "
            "(MANIFEST_BLOB_UNKNOWN)."
        ),
        "401": _response("Unauthorized"),
    },
}

_BLOB_DELETE = {
    "summary": "Delete a blob from a repository (OCI distribution API)",
    "description": "Unlinks the blob from the repository; gc reclaims the bytes. Refused "
    "while a manifest of the repository references it, since pulls of that manifest would "
    "fail: delete the manifests first.",
    "operationId": "deleteBlob",
    "security": [{"bearer": []}],
    "parameters": [_NAME, _DIGEST],
    "responses": {
        "202": {"description": "Unlinked."},
        "401": _response("Unauthorized"),
        "404": _error("The blob is not in the repository (BLOB_UNKNOWN)."),
        "405": _error(
            "A manifest of the repository references the blob (UNSUPPORTED); the message and "
            "`detail.manifest` name one."
        ),
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "tagtrail",
        "version": __version__,
        "description": "tagtrail's own endpoints: the token service and the tag history APIs, "
        "and the OCI distribution operations where tagtrail decides what the spec leaves open. "
        "Every /v2/ request needs a token from /token unless the registry runs with --no-auth.",
    },
    "paths": {
        "/token": {"get": _TOKEN_GET, "post": _TOKEN_POST},
        "/v2/{name}/_chainguard/history/{tag}": {"get": _CHAINGUARD_HISTORY},
        "/v2/{name}/_oci/tag-history/{tag}": {"get": _OCI_HISTORY},
        "/v2/{name}/manifests/{reference}": {"get": _MANIFEST_GET, "put": _MANIFEST_PUT},
        "/v2/{name}/blobs/{digest}": {"delete": _BLOB_DELETE},
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenApi",
                "security": [{}],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "basic": {"type": "http", "scheme": "basic"},
        },
    },
}


async def document(request: Request) -> Response:
    return JSONResponse(DOCUMENT)
