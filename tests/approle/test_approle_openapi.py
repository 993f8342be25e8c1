"""The OpenAPI document tells the truth about approle's odd statuses (found by the fuzz run,
tests/server/test_api_fuzz.py): tidy answers 202, an unknown accessor's lookup answers 404 with
Vault's envelope (`data.error`) rather than `errors`."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from core.framework.openapi import ENVELOPE_SCHEMA, ERROR_SCHEMA
from tests.approle.conftest import make_role
from tests.conftest import Server


async def document(srv: Server) -> dict[str, Any]:
    response = await srv.call("GET", "/v1/sys/internal/specs/openapi")
    assert response.status_code == 200, response.text
    paths: dict[str, Any] = response.json()["paths"]
    return paths


def declared(paths: dict[str, Any], path: str, status: int) -> dict[str, Any]:
    """The JSON schema the document gives the body of `status` on POST `path`."""
    responses = paths[path]["post"]["responses"]
    assert str(status) in responses, f"{status} not declared for {path}: {sorted(responses)}"
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return schema


async def test_tidy_declares_202_and_answers_it(srv: Server) -> None:
    schema = declared(await document(srv), "/auth/approle/tidy/secret-id", 202)
    tidy = await srv.call("POST", "/v1/auth/approle/tidy/secret-id")
    assert tidy.status_code == 202
    jsonschema_rs.validate(schema, tidy.json())


async def test_unknown_accessor_404_body_matches_the_document(srv: Server) -> None:
    await make_role(srv)
    path = "/auth/approle/role/{role}/secret-id-accessor/lookup"
    schema = declared(await document(srv), path, 404)
    assert schema == {"anyOf": [ERROR_SCHEMA, ENVELOPE_SCHEMA]}
    lookup = await srv.call(
        "POST",
        "/v1/auth/approle/role/app/secret-id-accessor/lookup",
        json={"secret_id_accessor": "no-such-accessor"},
    )
    assert lookup.status_code == 404
    assert "failed to find accessor entry" in lookup.json()["data"]["error"]
    jsonschema_rs.validate(schema, lookup.json())
    # The pipeline's own 404 (an unknown role) still has the `errors` form.
    missing = await srv.call(
        "POST",
        "/v1/auth/approle/role/nope/secret-id-accessor/lookup",
        json={"secret_id_accessor": "x"},
    )
    assert missing.status_code == 404 and "errors" in missing.json()
    jsonschema_rs.validate(schema, missing.json())


async def test_every_operation_declares_429(srv: Server) -> None:
    # A rate-limit quota can refuse any request, logins included.
    for path, spec in (await document(srv)).items():
        for method in ("get", "post", "put", "delete"):
            if method in spec:
                assert declared_status(spec[method], 429) == ERROR_SCHEMA, (method, path)


def declared_status(operation: dict[str, Any], status: int) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]
    return schema
