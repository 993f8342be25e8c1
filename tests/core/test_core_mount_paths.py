"""Mount paths have a documented charset: segments of A-Z a-z 0-9 - _ . ~ @ :, no control
characters, no `.`/`..`, no reserved first segment; anything else is 400 (sys/auth) or a
one-line start-up error (config file), and is never listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, mount_path_problem, parse_config
from tests.conftest import Server


@pytest.mark.parametrize(
    "raw",
    [
        "a%00b",
        "a%01b",
        "a%7Fb",
        "a%C2%85b",
        "a%ED%A0%80b",
        "a%E2%80%A8b",
        "sp%20ace",
        "a*b",
        "a+b",
        "a%25b",
        "x/%2E%2E/y",
        "a%3Fb",
    ],
)
async def test_bad_mount_paths_are_400_and_never_listed(server: Server, raw: str) -> None:
    answer = await server.call("POST", f"/v1/sys/auth/{raw}", json={"type": "alicloud"})
    assert answer.status_code == 400, answer.text
    reasons = ("mount path", "control character", "canonical", "already in use at token/")
    assert any(w in answer.text for w in reasons), answer.text
    listed = await server.call("GET", "/v1/sys/auth")
    assert list(listed.json()["data"]) == ["token/"]


async def test_good_mount_paths_are_accepted(server: Server) -> None:
    for path in ("team-a/ali_cloud.v2", "x~y@z:1"):
        answer = await server.call("POST", f"/v1/sys/auth/{path}", json={"type": "alicloud"})
        assert answer.status_code in (204, 400), answer.text
        assert "mount path" not in answer.text


def test_config_file_mount_paths_are_checked(tmp_path: Path) -> None:
    for bad in ("a b", "x/../y", "token", "a\\u0085b"):
        text = f'[[auth]]\npath = "{bad}"\ntype = "alicloud"\n'
        with pytest.raises(ConfigError) as caught:
            parse_config(text, source="test.toml")
        assert "\n" not in str(caught.value)
    assert mount_path_problem("team/a/alicloud/") == ""
