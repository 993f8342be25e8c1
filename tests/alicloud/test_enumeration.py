"""An unauthenticated caller cannot tell which AliCloud roles or auth mounts exist: unknown role
and wrong identity fail alike, `?help=1` needs a token, and the OpenAPI document without a token
lists no auth mount."""

from __future__ import annotations

from typing import Any

from tests.alicloud.conftest import ROLE, USER
from tests.alicloud.test_plugin_flow import clock, login, make_role, signed, srv, sts
from tests.conftest import Server

__all__ = ["clock", "signed", "srv", "sts"]  # fixtures used by the tests below


async def test_unknown_role_and_wrong_identity_fail_alike(srv: Server, signed: Any) -> None:
    await make_role(srv, "dev")  # binds ROLE's RAM role, not USER
    wrong_identity = await login(srv, signed(USER, "dev"))
    unknown_role = await login(srv, signed(ROLE, "ghost"))
    assert wrong_identity.status_code == unknown_role.status_code == 403
    assert wrong_identity.json() == unknown_role.json()
    # A payload that cannot be valid gets one answer whether or not the role exists.
    garbage = {"identity_request_url": "not base64!", "identity_request_headers": {}}
    known = await login(srv, {"role": "dev", **garbage})
    unknown = await login(srv, {"role": "ghost", **garbage})
    assert known.status_code == unknown.status_code == 400
    assert known.json() == unknown.json()


async def test_help_and_openapi_reveal_no_mount_without_a_token(srv: Server) -> None:
    existing = await srv.call("GET", "/v1/auth/alicloud/login?help=1", token=None)
    missing = await srv.call("GET", "/v1/auth/nothere/login?help=1", token=None)
    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()
    document = await srv.call("GET", "/v1/sys/internal/specs/openapi", token=None)
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert paths, "the unauthenticated sys paths are still described"
    assert not [p for p in paths if p.startswith("/auth/")]
    # With a token, help works and the document lists what its policy allows.
    helped = await srv.call("GET", "/v1/auth/alicloud/login?help=1")
    assert helped.status_code == 200
    full = await srv.call("GET", "/v1/sys/internal/specs/openapi")
    assert "/auth/alicloud/login" in full.json()["paths"]
