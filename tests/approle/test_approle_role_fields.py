"""The per-field role endpoints (`role/<name>/token-ttl`, ...): OpenBao 2.7.2's recorded answers
replayed, then each field of the table set, read and reset, and the role write's checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plugins.approle.path_fields import FIELDS
from tests.approle.conftest import make_role
from tests.conftest import Server

RECORDED = json.loads(
    (Path(__file__).parents[1] / "data" / "openbao-approle-role-fields.json").read_text()
)["exchanges"]
# OpenBao 2.7.2 lists bind-secret-id in its OpenAPI but does not route it (404); Vault serves
# it, and so does wardgate (test_bind_secret_id_endpoint).
NOT_REPLAYED = {"117-read-bind-secret-id", "125-delete-bind-secret-id-on-cidr-role"}
NOT_REPLAYED |= {"126-read-bind-after-delete", "74-locked-users", "76-unlock-user"}


def _replayed() -> list[dict[str, Any]]:
    return [x for x in RECORDED if x["name"] not in NOT_REPLAYED]


async def test_recorded_field_endpoints_match_openbao(srv: Server) -> None:
    assert len(_replayed()) == 16  # the data file is the one this test was written for
    for exchange in _replayed():
        got = await srv.call(exchange["method"], exchange["path"], json=exchange["body"])
        assert got.status_code == exchange["status"], (exchange["name"], got.text)
        want = exchange["response"]
        if want is None:
            assert got.content == b"", exchange["name"]
        elif "errors" in want:
            assert got.json() == want, exchange["name"]
        else:
            assert got.json()["data"] == want["data"], exchange["name"]
            assert got.json()["warnings"] == want["warnings"], exchange["name"]


# A value to set through each writable endpoint, and what the read then shows.
SAMPLES: dict[str, tuple[Any, Any]] = {
    "policies": ("B, a", ["B", "a"]),  # kept as given, as by the role write
    "bind-secret-id": (False, False),
    "secret-id-bound-cidrs": ("10.0.0.0/8,127.0.0.1/32", ["10.0.0.0/8", "127.0.0.1/32"]),
    "bound-cidr-list": (["192.168.0.0/16"], ["192.168.0.0/16"]),
    "secret-id-num-uses": (7, 7),
    "secret-id-ttl": ("10m", 600),
    "token-ttl": ("5m", 300),
    "token-max-ttl": ("2h", 7200),
    "token-num-uses": (3, 3),
    "token-bound-cidrs": ("10.1.0.0/16,127.0.0.1/32", ["10.1.0.0/16", "127.0.0.1"]),
    "period": ("30m", 1800),
    "token-type": ("batch", "batch"),
}


@pytest.mark.parametrize("field", [f for f in FIELDS if f.resets], ids=lambda f: f.segment)
async def test_each_field_is_set_read_and_reset(srv: Server, field: Any) -> None:
    # CIDRs on the role, so that bind_secret_id=false is a valid role.
    await make_role(srv, "f", secret_id_bound_cidrs="127.0.0.0/8")
    url = f"/v1/auth/approle/role/F/{field.segment}"  # role names are case-insensitive
    default = (await srv.call("GET", url)).json()["data"]
    sent, shown = SAMPLES[field.segment]
    written = await srv.call("POST", url, json={field.key: sent})
    assert written.status_code == 204, written.text
    assert (await srv.call("GET", url)).json()["data"] == {field.key: shown}
    role = (await srv.call("GET", "/v1/auth/approle/role/f")).json()["data"]
    assert role[field.source or field.key] == shown
    if field.segment in ("secret-id-bound-cidrs", "bound-cidr-list"):
        # Taking the CIDRs away needs another constraint left on the role.
        await srv.call("POST", "/v1/auth/approle/role/f/bind-secret-id", json={"bind_secret_id": 1})
    deleted = await srv.call("DELETE", url)
    assert deleted.status_code == 204, deleted.text
    after = (await srv.call("GET", url)).json()["data"]
    if field.segment in ("secret-id-bound-cidrs", "bound-cidr-list"):
        assert after == {field.key: None}  # never set again: Vault's null
    else:
        assert after == default


async def test_sub_endpoints_check_as_the_role_write(srv: Server) -> None:
    await make_role(srv, "v", token_max_ttl="1h")
    base = "/v1/auth/approle/role/v"
    cases = [
        ("secret-id-num-uses", {"secret_id_num_uses": -1}, "secret_id_num_uses cannot be negative"),
        ("token-num-uses", {"token_num_uses": -2}, "'token_num_uses' cannot be negative"),
        ("token-type", {"token_type": "weird"}, "invalid 'token_type' value \"weird\""),
        (
            "token-bound-cidrs",
            {"token_bound_cidrs": "10.0.0.300/8"},
            'invalid CIDR or IP address in token_bound_cidrs: "10.0.0.300/8"',
        ),
        (
            "secret-id-bound-cidrs",
            {"secret_id_bound_cidrs": "300.1.1.1/8"},
            "failed to validate CIDR blocks: invalid CIDR address: 300.1.1.1/8",
        ),
        (
            "bind-secret-id",
            {"bind_secret_id": False},
            "at least one constraint should be enabled on the role",
        ),
        ("token-ttl", {"token_ttl": "2h"}, "token_ttl should not be greater than token_max_ttl"),
        ("token-max-ttl", {"token_max_ttl": 1}, None),  # below token_ttl 0: fine
        ("token-ttl", {}, "missing token_ttl"),
        ("policies", {"nothing": "x"}, "missing token_policies"),
        ("secret-id-ttl", {"secret_id_ttl": "soon"}, None),
    ]
    for segment, body, message in cases:
        got = await srv.call("POST", f"{base}/{segment}", json=body)
        if segment == "secret-id-ttl":  # not a duration: a 400 naming the field
            assert got.status_code == 400 and "secret_id_ttl" in got.text, got.text
            continue
        if message is None:
            assert got.status_code == 204, got.text
            continue
        assert (got.status_code, got.json()) == (400, {"errors": [message]}), segment
    # A batch role cannot be given token uses, whichever endpoint tries.
    await srv.call("POST", f"{base}/token-type", json={"token_type": "batch"})
    got = await srv.call("POST", f"{base}/token-num-uses", json={"token_num_uses": 2})
    assert got.status_code == 400 and "limited use count" in got.json()["errors"][0]
    # A refused write changed nothing.
    role = (await srv.call("GET", base)).json()["data"]
    assert (role["secret_id_num_uses"], role["token_num_uses"], role["bind_secret_id"]) == (
        0,
        0,
        True,
    )


async def test_legacy_names_and_period_limit(srv: Server) -> None:
    await make_role(srv, "old")
    base = "/v1/auth/approle/role/old"
    assert (await srv.call("POST", f"{base}/policies", json={"policies": "B,a"})).status_code == 204
    # Vault's read-back rule: the deprecated key is shown while it was the way it was set.
    assert (await srv.call("GET", f"{base}/policies")).json()["data"] == {
        "policies": ["a", "b"],
        "token_policies": ["a", "b"],
    }
    await srv.call("POST", f"{base}/policies", json={"token_policies": "c"})
    assert (await srv.call("GET", f"{base}/policies")).json()["data"] == {"token_policies": ["c"]}
    tuned = await srv.call("POST", "/v1/sys/auth/approle/tune", json={"max_lease_ttl": "1h"})
    assert tuned.status_code == 204, tuned.text
    got = await srv.call("POST", f"{base}/period", json={"period": "2h"})
    assert got.json() == {
        "errors": [
            'period of "2h0m0s" is greater than the backend\'s maximum lease TTL of "1h0m0s"'
        ]
    }
    assert (await srv.call("POST", f"{base}/period", json={"token_period": 600})).status_code == 204
    assert (await srv.call("GET", f"{base}/period")).json()["data"] == {"token_period": 600}
    # The whole-role endpoint checks the legacy `period` as Vault does (the message is Vault's).
    refused = await srv.call("POST", base, json={"period": "90m"})
    assert refused.json() == {
        "errors": [
            'period of "1h30m0s" is greater than the backend\'s maximum lease TTL of "1h0m0s"'
        ]
    }
    assert (await srv.call("GET", f"{base}/period")).json()["data"] == {"token_period": 600}
    assert (await srv.call("POST", base, json={"period": "30m"})).status_code == 204


async def test_unknown_role_and_read_only_field(srv: Server) -> None:
    ghost = "/v1/auth/approle/role/ghost/token-ttl"
    assert (await srv.call("GET", ghost)).json() == {"errors": []}
    assert (await srv.call("DELETE", ghost)).status_code == 204
    assert (await srv.call("GET", "/v1/auth/approle/role/ghost")).status_code == 404
    await make_role(srv, "ro", local_secret_ids=True)
    url = "/v1/auth/approle/role/ro/local-secret-ids"
    assert (await srv.call("GET", url)).json()["data"] == {"local_secret_ids": True}
    refused = await srv.call("POST", url, json={"local_secret_ids": False})
    assert refused.status_code == 405
    assert (await srv.call("DELETE", url)).status_code == 405


async def test_bind_secret_id_endpoint(srv: Server) -> None:
    """OpenBao 2.7.2 answers 404 here (recorded 117, 125, 126); Vault serves the field."""
    await make_role(srv, "b", secret_id_bound_cidrs="127.0.0.0/8")
    url = "/v1/auth/approle/role/b/bind-secret-id"
    assert (await srv.call("GET", url)).json()["data"] == {"bind_secret_id": True}
    assert (await srv.call("POST", url, json={"bind_secret_id": "false"})).status_code == 204
    assert (await srv.call("GET", url)).json()["data"] == {"bind_secret_id": False}
    # A role without any other constraint cannot drop the secret ID.
    await make_role(srv, "plain")
    refused = await srv.call(
        "POST", "/v1/auth/approle/role/plain/bind-secret-id", json={"bind_secret_id": False}
    )
    assert refused.json() == {"errors": ["at least one constraint should be enabled on the role"]}
    assert (await srv.call("DELETE", url)).status_code == 204
    assert (await srv.call("GET", url)).json()["data"] == {"bind_secret_id": True}
