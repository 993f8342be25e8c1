"""The policy endpoints over HTTP: sys/policy (legacy) and sys/policies/acl (list, read, write,
delete), compared with OpenBao's recorded answers (transcripts §4, records 123-151), and the
capabilities endpoints (sys/capabilities-self, sys/capabilities, sys/capabilities-accessor)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from core.policy import DEFAULT_POLICY_TEXT
from tests.conftest import Server

ENVELOPE_KEYS = [
    "request_id",
    "lease_id",
    "renewable",
    "lease_duration",
    "data",
    "wrap_info",
    "warnings",
    "auth",
]
DENIED = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
# The fixed test clock's "now" as OpenBao prints a policy's `modified` time.
MODIFIED = "2026-11-22T08:02:18Z"
FLAGS = {
    "allow_slashes_in_identity_templates": False,
    "allow_wildcards_in_identity_templates": False,
    "cas_required": False,
}

# Records 123 and 129, byte for byte.
ADMIN_HCL = (
    'path "auth/approle/role/*" {\n'
    '  capabilities = ["create", "read", "update", "delete", "list"]\n'
    "}\n"
)
READER_HCL = (
    "# read-only on approle roles\n"
    'path "auth/approle/role/*" {\n  capabilities = ["read", "list"]\n}\n'
    'path "auth/approle/role" {\n  capabilities = ["list"]\n}\n'
)
POLICY_READER = 'path "sys/policies/acl/*" { capabilities = ["read", "list"] }'


def legacy(body: dict[str, Any]) -> dict[str, Any]:
    """The legacy shape: every data key copied in front of the envelope. Returns data."""
    data: dict[str, Any] = body["data"]
    assert list(body) == [*data, *ENVELOPE_KEYS]
    assert all(body[key] == value for key, value in data.items())
    return data


def envelope(body: dict[str, Any]) -> dict[str, Any]:
    """The plain envelope (no top-level copies). Returns data."""
    assert list(body) == ENVELOPE_KEYS
    data: dict[str, Any] = body["data"]
    return data


async def put(srv: Server, name: str, text: str, *, api: str = "sys/policies/acl") -> None:
    response = await srv.call("PUT", f"/v1/{api}/{name}", json={"policy": text})
    assert response.status_code == 204, response.text
    assert response.content == b""


async def token(srv: Server, *policies: str, **body: Any) -> dict[str, Any]:
    """A child of root with these policies (just `default` if none: an empty list would
    inherit root's)."""
    chosen = list(policies) or ["default"]
    response = await srv.call("POST", "/v1/auth/token/create", json={"policies": chosen, **body})
    assert response.status_code == 200, response.text
    auth: dict[str, Any] = response.json()["auth"]
    return auth


async def errors(response: Any) -> tuple[int, list[str]]:
    return response.status_code, response.json()["errors"]


# -- legacy sys/policy -------------------------------------------------------------------------


async def test_legacy_write_then_read_has_top_level_copy_with_rules(server: Server) -> None:
    await put(server, "approle-admin", ADMIN_HCL, api="sys/policy")  # record 123
    response = await server.call("GET", "/v1/sys/policy/approle-admin")  # record 124
    assert response.status_code == 200
    data = legacy(response.json())
    assert data == {
        **FLAGS,
        "modified": MODIFIED,
        "name": "approle-admin",
        "rules": ADMIN_HCL,
        "version": 1,
    }
    assert list(data) == sorted(data)  # keys inside data are sorted, as Go prints a map
    assert response.json()["warnings"] is None


async def test_legacy_list_has_keys_and_policies_with_root_last(server: Server) -> None:
    await put(server, "approle-admin", ADMIN_HCL)
    await put(server, "zeta", ADMIN_HCL)
    expected = ["approle-admin", "default", "zeta", "root"]  # sorted, `root` appended
    response = await server.call("GET", "/v1/sys/policy")  # record 125: plain GET lists
    assert response.status_code == 200
    assert legacy(response.json()) == {"keys": expected, "policies": expected}


@pytest.mark.parametrize(
    ("method", "path"), [("LIST", "/v1/sys/policy"), ("GET", "/v1/sys/policy?list=true")]
)
async def test_legacy_list_by_list_verb(server: Server, method: str, path: str) -> None:
    response = await server.call(method, path)  # record 126
    assert response.status_code == 200, response.text
    assert legacy(response.json()) == {
        "keys": ["default", "root"],
        "policies": ["default", "root"],
    }


async def test_legacy_rules_field_is_accepted_with_a_deprecation_warning(server: Server) -> None:
    written = await server.call("PUT", "/v1/sys/policy/via-rules", json={"rules": ADMIN_HCL})
    assert written.status_code == 200  # record 127: warnings turn the 204 into a 200
    body = written.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["data"] is None and body["auth"] is None
    assert body["warnings"] == ["'rules' is deprecated, please use 'policy' instead"]
    read = await server.call("GET", "/v1/sys/policy/via-rules")  # record 128
    assert legacy(read.json())["rules"] == ADMIN_HCL
    acl = await server.call("GET", "/v1/sys/policies/acl/via-rules")
    assert envelope(acl.json())["policy"] == ADMIN_HCL


async def test_rules_field_exists_only_on_the_legacy_endpoint(server: Server) -> None:
    response = await server.call("PUT", "/v1/sys/policies/acl/x", json={"rules": ADMIN_HCL})
    assert await errors(response) == (400, ["'policy' parameter not supplied or empty"])
    # On the legacy endpoint `rules` wins over `policy` (as Vault's handler reads it first).
    both = {"rules": ADMIN_HCL, "policy": READER_HCL}
    response = await server.call("PUT", "/v1/sys/policy/both", json=both)
    assert response.status_code == 200
    assert response.json()["warnings"] == ["'rules' is deprecated, please use 'policy' instead"]
    read = await server.call("GET", "/v1/sys/policy/both")
    assert read.json()["data"]["rules"] == ADMIN_HCL


# -- sys/policies/acl ------------------------------------------------------------------------


async def test_acl_write_then_read_is_a_plain_envelope_with_policy(server: Server) -> None:
    await put(server, "approle-reader", READER_HCL)  # record 129
    response = await server.call("GET", "/v1/sys/policies/acl/approle-reader")  # record 130
    assert response.status_code == 200
    assert envelope(response.json()) == {
        **FLAGS,
        "modified": MODIFIED,
        "name": "approle-reader",
        "policy": READER_HCL,
        "version": 1,
    }
    legacy_read = await server.call("GET", "/v1/sys/policy/approle-reader")
    assert legacy(legacy_read.json())["rules"] == READER_HCL  # one store, two views


async def test_acl_list_by_verb_and_query_has_root_last(server: Server) -> None:
    for name in ("approle-admin", "approle-reader", "via-rules"):
        await put(server, name, ADMIN_HCL)
    expected = ["approle-admin", "approle-reader", "default", "via-rules", "root"]  # record 131
    for method, path in [
        ("LIST", "/v1/sys/policies/acl"),
        ("GET", "/v1/sys/policies/acl?list=true"),
    ]:
        response = await server.call(method, path)  # records 131, 132
        assert response.status_code == 200
        assert envelope(response.json()) == {"keys": expected}
    plain_get = await server.call("GET", "/v1/sys/policies/acl")
    assert plain_get.status_code == 405  # only LIST is defined on the collection


async def test_rewrite_counts_versions_and_keeps_the_text_as_written(server: Server) -> None:
    text = '# spacing and comments are kept\n\n\npath "a/*"   {capabilities=["read"]}   \n'
    await put(server, "keep", ADMIN_HCL)
    server.clock.advance(61.25)
    await put(server, "keep", text)
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/keep")).json())
    assert (data["policy"], data["version"]) == (text, 2)
    assert data["modified"] == "2026-11-22T08:03:19.25Z"


async def test_names_are_lower_cased(server: Server) -> None:
    await put(server, "Mixed-Case", READER_HCL)  # record 133
    response = await server.call("GET", "/v1/sys/policies/acl/mixed-case")  # record 134
    assert envelope(response.json())["name"] == "mixed-case"
    upper = await server.call("GET", "/v1/sys/policies/acl/MIXED-CASE")
    assert envelope(upper.json())["name"] == "mixed-case"
    listed = await server.call("LIST", "/v1/sys/policies/acl")
    assert "mixed-case" in listed.json()["data"]["keys"]
    assert "Mixed-Case" not in listed.json()["data"]["keys"]


async def test_base64_policy_is_stored_decoded(server: Server) -> None:
    encoded = base64.b64encode(READER_HCL.encode()).decode()  # record 138
    await put(server, "b64", encoded)
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/b64")).json())
    assert data["policy"] == READER_HCL  # record 139


async def test_json_syntax_policy_is_accepted_kept_and_enforced(server: Server) -> None:
    text = json.dumps({"path": {"sys/policies/acl/*": {"capabilities": ["read", "list"]}}})
    await put(server, "jsonpol", text)  # record 140
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/jsonpol")).json())
    assert data["policy"] == text
    holder = (await token(server, "jsonpol"))["client_token"]
    read = await server.call("GET", "/v1/sys/policies/acl/default", token=holder)
    assert read.status_code == 200
    write = await server.call(
        "PUT", "/v1/sys/policies/acl/other", token=holder, json={"policy": ADMIN_HCL}
    )
    assert (write.status_code, write.json()) == (403, DENIED)


async def test_form_encoded_policy_body(server: Server) -> None:
    response = await server.call(
        "PUT",
        "/v1/sys/policies/acl/formed",
        content=urlencode({"policy": ADMIN_HCL}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 204, response.text
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/formed")).json())
    assert data["policy"] == ADMIN_HCL


# -- root and default --------------------------------------------------------------------------


async def test_root_policy_reads_as_empty_rules_version_zero(server: Server) -> None:
    legacy_root = legacy((await server.call("GET", "/v1/sys/policy/root")).json())  # record 143
    assert legacy_root == {**FLAGS, "name": "root", "rules": "", "version": 0}
    acl_root = envelope((await server.call("GET", "/v1/sys/policies/acl/root")).json())
    assert acl_root == {**FLAGS, "name": "root", "policy": "", "version": 0}  # record 144


@pytest.mark.parametrize("api", ["sys/policy", "sys/policies/acl"])
async def test_root_cannot_be_changed_or_deleted(server: Server, api: str) -> None:
    written = await server.call("PUT", f"/v1/{api}/root", json={"policy": ADMIN_HCL})
    assert await errors(written) == (400, ['cannot update "root" policy'])  # record 145
    upper = await server.call("PUT", f"/v1/{api}/ROOT", json={"policy": ADMIN_HCL})
    assert await errors(upper) == (400, ['cannot update "root" policy'])
    deleted = await server.call("DELETE", f"/v1/{api}/root")
    assert await errors(deleted) == (400, ['cannot delete "root" policy'])  # record 147
    data = (await server.call("GET", "/v1/sys/policies/acl/root")).json()["data"]
    assert (data["policy"], data["version"]) == ("", 0)


@pytest.mark.parametrize("api", ["sys/policy", "sys/policies/acl"])
async def test_default_exists_from_the_start_and_cannot_be_deleted(
    server: Server, api: str
) -> None:
    response = await server.call("GET", f"/v1/{api}/default")  # records 141, 142
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["rules" if api == "sys/policy" else "policy"] == DEFAULT_POLICY_TEXT
    assert (data["name"], data["version"], data["modified"]) == ("default", 1, MODIFIED)
    deleted = await server.call("DELETE", f"/v1/{api}/default")
    assert await errors(deleted) == (400, ["cannot delete default policy"])  # record 146
    assert (await server.call("GET", f"/v1/{api}/default")).status_code == 200


async def test_default_can_be_edited_and_applies_to_live_tokens(server: Server) -> None:
    holder = (await token(server))["client_token"]  # just `default`
    assert (await server.call("GET", "/v1/auth/token/lookup-self", token=holder)).status_code == 200
    await put(server, "default", 'path "auth/token/renew-self" { capabilities = ["update"] }')
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/default")).json())
    assert data["version"] == 2
    denied = await server.call("GET", "/v1/auth/token/lookup-self", token=holder)
    assert (denied.status_code, denied.json()) == (403, DENIED)
    await put(server, "default", DEFAULT_POLICY_TEXT)
    assert (await server.call("GET", "/v1/auth/token/lookup-self", token=holder)).status_code == 200


# -- missing and deleted -------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["sys/policy", "sys/policies/acl"])
async def test_missing_policy_is_404_and_delete_of_missing_is_204(server: Server, api: str) -> None:
    missing = await server.call("GET", f"/v1/{api}/nope")  # records 148, 149
    assert (missing.status_code, missing.json()) == (404, {"errors": []})
    deleted = await server.call("DELETE", f"/v1/{api}/nope")  # record 150
    assert (deleted.status_code, deleted.content) == (204, b"")


async def test_delete_removes_from_both_views_and_from_tokens(server: Server) -> None:
    await put(server, "readers", POLICY_READER, api="sys/policy")
    holder = (await token(server, "readers"))["client_token"]
    assert (
        await server.call("GET", "/v1/sys/policies/acl/default", token=holder)
    ).status_code == 200
    deleted = await server.call("DELETE", "/v1/sys/policy/readers")  # record 151
    assert deleted.status_code == 204
    for api in ("sys/policy", "sys/policies/acl"):
        assert (await server.call("GET", f"/v1/{api}/readers")).status_code == 404
    listed = (await server.call("LIST", "/v1/sys/policies/acl")).json()["data"]["keys"]
    assert "readers" not in listed
    gone = await server.call("GET", "/v1/sys/policies/acl/default", token=holder)
    assert (gone.status_code, gone.json()) == (403, DENIED)


# -- refused documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # record 137
        ({}, "'policy' parameter not supplied or empty"),
        ({"policy": ""}, "'policy' parameter not supplied or empty"),
        ({"policy": "  \n\t "}, "'policy' parameter not supplied or empty"),
        ({"policy": None}, "'policy' parameter not supplied or empty"),
        # record 136 (OpenBao repeats the `path "x":` prefix)
        (
            {"policy": 'path "x" { capabilities = ["fly"] }'},
            'failed to parse policy: path "x": invalid capability "fly"',
        ),
        (
            {"policy": 'path "x" { capabilities = ["read", "Read"] }'},
            'failed to parse policy: path "x": invalid capability "Read"',
        ),
        (
            {"policy": 'path "x" { policy = "admin" }'},
            "failed to parse policy: path \"x\": invalid policy 'admin'",
        ),
        (
            {"policy": 'path "x" { capabilities = ["read"]\n min_wrapping_ttl = "1h" }'},
            'failed to parse policy: path "x": "min_wrapping_ttl" is not supported by wardgate',
        ),
        (
            {"policy": 'path "x" { capabilities = ["read"]\n control_group = {} }'},
            'failed to parse policy: path "x": "control_group" is not supported by wardgate',
        ),
        (
            {"policy": 'path "x" { capabilites = ["read"] }'},
            'failed to parse policy: path "x": invalid key "capabilites"',
        ),
        (
            {"policy": 'paths "x" { capabilities = ["read"] }'},
            'failed to parse policy: invalid key "paths"',
        ),
        (
            {"policy": 'path "a/*/b" { capabilities = ["read"] }'},
            'failed to parse policy: path "a/*/b": "*" is only allowed at the end of a path',
        ),
        (
            {"policy": 'path "a/b+/c" { capabilities = ["read"] }'},
            'failed to parse policy: path "a/b+/c": "+" must be a whole path segment',
        ),
        (
            {"policy": 'path "a/{{identity.entity.id}}" { capabilities = ["read"] }'},
            'failed to parse policy: path "a/{{identity.entity.id}}": '
            "identity templates are not supported by wardgate",
        ),
        (
            {"policy": '{"path": {"x": {"capabilities": ["read"]}, "x": {}}}'},
            'failed to parse policy: duplicate key "x" in JSON',
        ),
    ],
)
async def test_refused_documents_are_400_naming_the_problem(
    server: Server, body: dict[str, Any], message: str
) -> None:
    response = await server.call("PUT", "/v1/sys/policies/acl/bad", json=body)
    assert await errors(response) == (400, [message])
    assert (await server.call("GET", "/v1/sys/policies/acl/bad")).status_code == 404


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ('path "x" { capabilities = [', "At 1:28: "),  # record 135's input and position
        ('path "x" {\n  capabilities = ["read"]\n', "At 3:1: "),
        ('path "x" { capabilities = ["read"] }\n}', "At 2:1: "),
        ('{"path": {"x": {"capabilities": ["read"]}', "At 1:42: "),
    ],
)
async def test_malformed_documents_are_400_with_a_position(
    server: Server, text: str, position: str
) -> None:
    response = await server.call("PUT", "/v1/sys/policies/acl/bad", json={"policy": text})
    status, messages = await errors(response)
    assert status == 400
    assert len(messages) == 1
    assert messages[0].startswith("failed to parse policy: " + position), messages


async def test_a_refused_rewrite_keeps_the_previous_version(server: Server) -> None:
    await put(server, "stable", ADMIN_HCL)
    response = await server.call(
        "PUT", "/v1/sys/policies/acl/stable", json={"policy": 'path "x" { capabilities = ["fly"] }'}
    )
    assert response.status_code == 400
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/stable")).json())
    assert (data["policy"], data["version"]) == (ADMIN_HCL, 1)


@pytest.mark.parametrize("name", ["a,b", "-lead", "x" * 129, "sp%20ace"])
async def test_invalid_names_are_400_naming_the_name(server: Server, name: str) -> None:
    response = await server.call("PUT", f"/v1/sys/policies/acl/{name}", json={"policy": ADMIN_HCL})
    status, messages = await errors(response)
    assert status == 400
    assert messages[0].startswith("invalid policy name ")


# -- who may manage policies ---------------------------------------------------------------------


async def test_policy_endpoints_are_acl_checked(server: Server) -> None:
    await put(server, "policy-reader", POLICY_READER)
    holder = (await token(server, "policy-reader", no_default_policy=True))["client_token"]
    assert (await server.call("LIST", "/v1/sys/policies/acl", token=holder)).status_code == 200
    assert (
        await server.call("GET", "/v1/sys/policies/acl/default", token=holder)
    ).status_code == 200
    for method, path in [
        ("PUT", "/v1/sys/policies/acl/mine"),
        ("DELETE", "/v1/sys/policies/acl/policy-reader"),
        ("GET", "/v1/sys/policy/default"),  # the legacy path is another path
        ("GET", "/v1/sys/policy"),
    ]:
        response = await server.call(method, path, token=holder, json={"policy": ADMIN_HCL})
        assert (response.status_code, response.json()) == (403, DENIED), (method, path)


async def test_a_denied_name_cannot_be_reached_by_changing_its_case(server: Server) -> None:
    # Names are lower-cased, so `ADMIN` is the policy `admin`: the deny on the stored name's
    # path applies whatever case the URL uses.
    await put(server, "admin", ADMIN_HCL)
    manager = (
        'path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete"] }\n'
        'path "sys/policies/acl/admin" { capabilities = ["deny"] }\n'
    )
    await put(server, "manager", manager)
    holder = (await token(server, "manager"))["client_token"]
    for name in ("admin", "ADMIN", "Admin"):
        for method in ("GET", "PUT", "DELETE"):
            response = await server.call(
                method, f"/v1/sys/policies/acl/{name}", token=holder, json={"policy": READER_HCL}
            )
            assert (response.status_code, response.json()) == (403, DENIED), (method, name)
    data = envelope((await server.call("GET", "/v1/sys/policies/acl/admin")).json())
    assert (data["policy"], data["version"]) == (ADMIN_HCL, 1)
    # Other names work in any case.
    written = await server.call(
        "PUT", "/v1/sys/policies/acl/Team", token=holder, json={"policy": READER_HCL}
    )
    assert written.status_code == 204
    assert (await server.call("GET", "/v1/sys/policies/acl/TEAM", token=holder)).status_code == 200


# -- capabilities ----------------------------------------------------------------------------------

MIXED = """
path "auth/token/create" { capabilities = ["update", "sudo"] }
path "auth/token/*" { capabilities = ["read"] }
path "sys/auth/*" { capabilities = ["read", "list"] }
path "sys/auth/secret" { capabilities = ["deny"] }
path "sys/+/x" { capabilities = ["create"] }
"""


async def test_capabilities_self_for_root_matches_record_162(server: Server) -> None:
    response = await server.call(
        "POST", "/v1/sys/capabilities-self", json={"path": "auth/approle/role/r1"}
    )
    assert response.status_code == 200
    assert legacy(response.json()) == {
        "auth/approle/role/r1": ["root"],
        "capabilities": ["root"],
    }


async def test_capabilities_self_needs_the_default_policy_or_a_grant(server: Server) -> None:
    await put(server, "mixed", MIXED)
    bare = (await token(server, "mixed", no_default_policy=True))["client_token"]
    response = await server.call(
        "POST", "/v1/sys/capabilities-self", token=bare, json={"paths": ["auth/token/create"]}
    )
    assert (response.status_code, response.json()) == (403, DENIED)  # record 161


async def test_capabilities_per_path_follow_the_acl(server: Server) -> None:
    await put(server, "mixed", MIXED)
    holder = (await token(server, "mixed"))["client_token"]
    paths = [
        "auth/token/create",  # exact rule
        "auth/token/lookup",  # glob
        "auth/token/lookup-self",  # `default`'s exact rule beats the glob
        "sys/auth/alicloud",
        "sys/auth/secret",  # exact deny
        "sys/anything/x",  # `+`
        "sys/mounts",  # nothing
    ]
    response = await server.call(
        "POST", "/v1/sys/capabilities-self", token=holder, json={"paths": paths}
    )
    assert response.status_code == 200
    assert legacy(response.json()) == {
        "auth/token/create": ["sudo", "update"],
        "auth/token/lookup": ["read"],
        "auth/token/lookup-self": ["read"],
        "sys/anything/x": ["create"],
        "sys/auth/alicloud": ["list", "read"],
        "sys/auth/secret": ["deny"],
        "sys/mounts": ["deny"],
    }  # several paths: no backwards-compatible "capabilities" key (as Vault)


async def test_capabilities_single_path_forms(server: Server) -> None:
    await put(server, "mixed", MIXED)
    holder = (await token(server, "mixed"))["client_token"]
    for body in (
        {"path": "auth/token/create"},
        {"paths": ["auth/token/create"]},
        {"paths": "auth/token/create"},
        {"path": "ignored", "paths": ["auth/token/create"]},  # `paths` wins over `path`
    ):
        response = await server.call("POST", "/v1/sys/capabilities-self", token=holder, json=body)
        assert legacy(response.json()) == {
            "auth/token/create": ["sudo", "update"],
            "capabilities": ["sudo", "update"],
        }, body
    # A comma-separated string is a list of paths (Vault's TypeCommaStringSlice).
    response = await server.call(
        "POST",
        "/v1/sys/capabilities-self",
        token=holder,
        json={"paths": "auth/token/create,sys/mounts"},
    )
    assert legacy(response.json()) == {
        "auth/token/create": ["sudo", "update"],
        "sys/mounts": ["deny"],
    }
    missing = await server.call("POST", "/v1/sys/capabilities-self", token=holder, json={})
    assert await errors(missing) == (400, ["paths must be supplied"])


async def test_capabilities_of_another_token_and_by_accessor(server: Server) -> None:
    await put(server, "mixed", MIXED)
    other = await token(server, "mixed")
    expected = {"sys/auth/x": ["list", "read"], "capabilities": ["list", "read"]}
    by_token = await server.call(
        "POST", "/v1/sys/capabilities", json={"token": other["client_token"], "path": "sys/auth/x"}
    )
    assert by_token.status_code == 200
    assert envelope_or_legacy(by_token.json()) == expected
    by_accessor = await server.call(
        "POST",
        "/v1/sys/capabilities-accessor",
        json={"accessor": other["accessor"], "paths": ["sys/auth/x"]},
    )
    assert by_accessor.status_code == 200
    assert envelope_or_legacy(by_accessor.json()) == expected
    root_caps = await server.call(
        "POST", "/v1/sys/capabilities", json={"token": server.root_token, "path": "a/b"}
    )
    assert envelope_or_legacy(root_caps.json()) == {"a/b": ["root"], "capabilities": ["root"]}


def envelope_or_legacy(body: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = body["data"]
    assert list(body)[-len(ENVELOPE_KEYS) :] == ENVELOPE_KEYS
    return data


async def test_capabilities_errors(server: Server) -> None:
    no_token = await server.call("POST", "/v1/sys/capabilities", json={"path": "a"})
    assert await errors(no_token) == (400, ["missing token"])
    bad_token = await server.call(
        "POST", "/v1/sys/capabilities", json={"path": "a", "token": "s.x"}
    )
    assert await errors(bad_token) == (400, ["invalid token"])
    revoked = await token(server)
    await server.call("POST", "/v1/auth/token/revoke", json={"token": revoked["client_token"]})
    gone = await server.call(
        "POST", "/v1/sys/capabilities", json={"path": "a", "token": revoked["client_token"]}
    )
    assert await errors(gone) == (400, ["invalid token"])
    no_accessor = await server.call("POST", "/v1/sys/capabilities-accessor", json={"path": "a"})
    assert await errors(no_accessor) == (400, ["missing accessor"])
    bad_accessor = await server.call(
        "POST", "/v1/sys/capabilities-accessor", json={"path": "a", "accessor": "nope"}
    )
    assert await errors(bad_accessor) == (400, ["1 error occurred:\n\t* invalid accessor\n\n"])
    gone_accessor = await server.call(
        "POST",
        "/v1/sys/capabilities-accessor",
        json={"path": "a", "accessor": revoked["accessor"]},
    )
    assert gone_accessor.status_code == 400


async def test_capabilities_of_others_need_a_grant(server: Server) -> None:
    other = await token(server)
    holder = (await token(server))["client_token"]  # `default` only
    for path, body in [
        ("/v1/sys/capabilities", {"token": other["client_token"], "path": "a"}),
        ("/v1/sys/capabilities-accessor", {"accessor": other["accessor"], "path": "a"}),
    ]:
        response = await server.call("POST", path, token=holder, json=body)
        assert (response.status_code, response.json()) == (403, DENIED)
    await put(
        server,
        "auditor",
        'path "sys/capabilities" { capabilities = ["update"] }\n'
        'path "sys/capabilities-accessor" { capabilities = ["update"] }\n',
    )
    auditor = (await token(server, "auditor"))["client_token"]
    for path, body in [
        (
            "/v1/sys/capabilities",
            {"token": other["client_token"], "path": "auth/token/lookup-self"},
        ),
        (
            "/v1/sys/capabilities-accessor",
            {"accessor": other["accessor"], "path": "auth/token/lookup-self"},
        ),
    ]:
        response = await server.call("POST", path, token=auditor, json=body)
        assert response.status_code == 200
        assert response.json()["data"]["capabilities"] == ["read"]


async def test_capabilities_see_a_policy_change_at_once(server: Server) -> None:
    await put(server, "changing", 'path "a/*" { capabilities = ["read"] }')
    holder = (await token(server, "changing"))["client_token"]

    async def caps() -> list[str]:
        response = await server.call(
            "POST", "/v1/sys/capabilities-self", token=holder, json={"path": "a/b"}
        )
        result: list[str] = response.json()["data"]["capabilities"]
        return result

    assert await caps() == ["read"]
    await put(server, "changing", 'path "a/*" { capabilities = ["read", "update", "list"] }')
    assert await caps() == ["list", "read", "update"]
    await server.call("DELETE", "/v1/sys/policies/acl/changing")
    assert await caps() == ["deny"]
