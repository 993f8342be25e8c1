"""Machine identities on /api/v1/identities: CRUD, validation (422 issues), errors, ACL."""

from __future__ import annotations

import uuid

from tests.infisical.conftest import Face, assert_error


async def test_create_read_list_update_delete(face: Face) -> None:
    created = await face.identity(
        name="  build-bot ",
        organizationId="ignored",
        metadata=[{"key": "team", "value": "infra"}],
        policies=["App-Read", "app-read", "ops"],
    )
    assert uuid.UUID(created["id"]).version == 4
    assert created["name"] == "build-bot"  # trimmed, as zod's .trim()
    assert created["role"] == "no-access"  # Infisical's default
    assert created["metadata"] == [{"key": "team", "value": "infra"}]
    assert created["policies"] == ["app-read", "ops"]  # lower-cased, deduplicated
    assert created["authMethods"] == []
    assert created["createdAt"].endswith("Z") and created["createdAt"][-5] == "."

    read = await face.call("GET", f"identities/{created['id']}")
    assert read.json() == {"identity": created}

    await face.identity(name="another")
    listed = (await face.call("GET", "identities")).json()
    assert listed["totalCount"] == 2
    assert [i["name"] for i in listed["identities"]] == ["another", "build-bot"]

    patched = await face.call(
        "PATCH", f"identities/{created['id']}", json={"role": "member", "policies": []}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["identity"]["role"] == "member"
    assert patched.json()["identity"]["policies"] == []
    assert patched.json()["identity"]["name"] == "build-bot"  # not sent: unchanged

    deleted = await face.call("DELETE", f"identities/{created['id']}")
    assert deleted.json()["identity"]["id"] == created["id"]
    missing = await face.call("GET", f"identities/{created['id']}")
    message = assert_error(missing, 404, "NotFound")
    assert message == f"Failed to find identity with ID {created['id']}"


async def test_validation_issues_are_422_with_paths(face: Face) -> None:
    response = await face.call(
        "POST",
        "identities",
        json={"role": "Not A Slug", "metadata": [{"key": ""}], "policies": ["root"]},
    )
    issues = assert_error(response, 422, "ValidationFailure")
    paths = [issue["path"] for issue in issues]
    assert ["name"] in paths
    assert ["role"] in paths
    assert ["metadata", 0, "key"] in paths and ["metadata", 0, "value"] in paths
    assert ["policies"] in paths
    name_issue = next(i for i in issues if i["path"] == ["name"])
    assert name_issue == {
        "code": "invalid_type",
        "expected": "string",
        "received": "undefined",
        "path": ["name"],
        "message": "Required",
    }


async def test_malformed_json_is_400_not_500(face: Face) -> None:
    response = await face.server.client.post(
        "/api/v1/identities",
        content=b'{"name": ',
        headers={"Authorization": "Bearer root-test", "Content-Type": "application/json"},
    )
    assert "failed to decode JSON" in assert_error(response, 400, "BadRequest")


async def test_unknown_ids_and_routes_are_404(face: Face) -> None:
    assert_error(await face.call("GET", "identities/not-a-uuid"), 404, "NotFound")
    assert_error(await face.call("PATCH", f"identities/{uuid.uuid4()}", json={}), 404, "NotFound")
    assert_error(await face.call("GET", "nothing/here"), 404, "NotFound")
    assert_error(await face.call("GET", "auth/unknown-auth/login"), 404, "NotFound")


async def test_no_token_401_bad_token_401_policy_403(face: Face) -> None:
    message = assert_error(
        await face.call("GET", "identities", token=None), 401, "UnauthorizedError"
    )
    assert message == "Token missing"
    assert_error(await face.call("GET", "identities", token="s.nope"), 401, "UnauthorizedError")

    # A token whose policy grants identity management, and one without it.
    policy = 'path "infisical/identities*" { capabilities = ["create", "read", "update", "list"] }'
    written = await face.server.call(
        "PUT", "/v1/sys/policies/acl/identity-admin", json={"policy": policy}
    )
    assert written.status_code == 204, written.text
    admin = await _token(face, ["identity-admin"])
    plain = await _token(face, ["default"])

    assert_error(await face.call("GET", "identities", token=plain), 403, "PermissionDenied")
    assert (await face.call("GET", "identities", token=admin)).status_code == 200
    created = await face.call("POST", "identities", token=admin, json={"name": "x"})
    assert created.status_code == 200, created.text
    # `delete` was not granted.
    identity_id = created.json()["identity"]["id"]
    refused = await face.call("DELETE", f"identities/{identity_id}", token=admin)
    assert_error(refused, 403, "PermissionDenied")


async def _token(face: Face, policies: list[str]) -> str:
    response = await face.server.call("POST", "/v1/auth/token/create", json={"policies": policies})
    assert response.status_code == 200, response.text
    token: str = response.json()["auth"]["client_token"]
    return token


async def test_bodies_are_capped_and_read_only_after_the_token(face: Face) -> None:
    big = b'{"accessToken": "' + b"x" * (70 * 1024) + b'"}'
    capped = await face.server.client.post(
        "/api/v1/auth/token/renew", content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(capped, 413, "PayloadTooLarge")
    # With a token the server's own limit applies; without one, 401 before any body is read.
    no_token = await face.server.client.post(
        "/api/v1/identities", content=big, headers={"Content-Type": "application/json"}
    )
    assert assert_error(no_token, 401, "UnauthorizedError") == "Token missing"
    large_ok = await face.call("POST", "identities", json={"name": "big", "x": "y" * 70_000})
    assert large_ok.status_code == 200, large_ok.text
