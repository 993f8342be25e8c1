"""Revocation is final: once a revoke of any form returns, no descendant of the token is valid,
even one created while the revoke ran. A real `wardgate server` with 2 workers on one SQLite
file, many concurrent creators (children and grandchildren) racing the revoke, with and without
500 pre-existing children (which used to stretch the window to seconds)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from support.server import client_env, free_port, running_server

ROOT_LINE = re.compile(r"^Root token: (\S+)$", re.MULTILINE)
CREATORS = 12
CREATOR_POLICY = 'path "auth/token/create" { capabilities = ["update"] }'


@dataclass
class Live:
    url: str
    root: str
    client: httpx.AsyncClient

    async def call(self, method: str, path: str, token: str, **kw: object) -> httpx.Response:
        return await self.client.request(
            method, f"{self.url}/v1/{path}", headers={"X-Vault-Token": token}, **kw
        )

    async def create(self, parent: str, **body: object) -> httpx.Response:
        return await self.call("POST", "auth/token/create", parent, json=body)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    port = free_port()
    config = tmp_path / "wardgate.toml"
    config.write_text(
        f'[server]\naddress = "127.0.0.1:{port}"\nworkers = 2\n\n'
        f'[storage]\npath = "{tmp_path / "wardgate.db"}"\n'
    )
    env = client_env(tmp_path)
    with running_server(["--config", str(config)], env, port=port, log_dir=tmp_path) as (
        url,
        server,
    ):
        (root,) = ROOT_LINE.findall(server.stderr())
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            live = Live(url, root, client)
            written = await live.call(
                "PUT", "sys/policies/acl/creator", root, json={"policy": CREATOR_POLICY}
            )
            assert written.status_code == 204, written.text
            yield live


@dataclass
class Race:
    parent: str
    children: list[str] = field(default_factory=list)  # every token that got a 200
    revoked: asyncio.Event = field(default_factory=asyncio.Event)
    grandchildren: float = 0.3  # the share of creates made under a child, not the parent


async def _new_parent(live: Live, pre_existing: int) -> Race:
    made = await live.create(live.root, policies=["creator"], ttl="1h")
    assert made.status_code == 200, made.text
    race = Race(made.json()["auth"]["client_token"])
    for start in range(0, pre_existing, 50):
        batch = await asyncio.gather(
            *(live.create(race.parent) for _ in range(min(50, pre_existing - start)))
        )
        for response in batch:
            assert response.status_code == 200, response.text
            race.children.append(response.json()["auth"]["client_token"])
    return race


async def _creator(live: Live, race: Race, seed: int) -> None:
    """Create children of the parent, and grandchildren under children already made, until
    creates have been refused a few times after the revoke returned."""
    rng = random.Random(seed)
    refused_after = 0
    while refused_after < 3:
        use_child = race.children and rng.random() < race.grandchildren
        issuer = rng.choice(race.children) if use_child else race.parent
        response = await live.create(issuer)
        if response.status_code == 200:
            race.children.append(response.json()["auth"]["client_token"])
        else:
            assert response.status_code == 403, response.text
            if race.revoked.is_set():
                refused_after += 1


async def _run(live: Live, race: Race, revoke: tuple[str, str, dict[str, str]]) -> None:
    before = len(race.children)
    creators = [asyncio.create_task(_creator(live, race, seed)) for seed in range(CREATORS)]
    while len(race.children) < before + 2 * CREATORS:  # creators are in full flight
        await asyncio.sleep(0.005)
    path, token, body = revoke
    answer = await live.call("POST", path, token, json=body)
    assert answer.status_code == 204, answer.text
    race.revoked.set()
    await asyncio.gather(*creators)


async def _still_valid(live: Live, tokens: list[str]) -> list[str]:
    valid: list[str] = []
    for start in range(0, len(tokens), 32):
        chunk = tokens[start : start + 32]
        answers = await asyncio.gather(
            *(live.call("GET", "auth/token/lookup-self", t) for t in chunk)
        )
        for token, response in zip(chunk, answers, strict=True):
            assert response.status_code in (200, 403), response.text
            if response.status_code == 200:
                valid.append(token)
    return valid


def _revoke_request(live: Live, form: str, parent: str, accessor: str) -> tuple[str, str, dict]:
    if form == "revoke":
        return "auth/token/revoke", live.root, {"token": parent}
    if form == "revoke-self":
        return "auth/token/revoke-self", parent, {}
    return "auth/token/revoke-accessor", live.root, {"accessor": accessor}


@pytest.mark.parametrize(
    ("form", "pre_existing", "rounds"),
    [("revoke", 500, 1), ("revoke", 0, 3), ("revoke-accessor", 500, 1), ("revoke-self", 0, 3)],
)
async def test_no_descendant_survives_a_revoke_racing_creates(
    live: Live, form: str, pre_existing: int, rounds: int
) -> None:
    for _ in range(rounds):
        race = await _new_parent(live, pre_existing)
        looked = await live.call("GET", "auth/token/lookup-self", race.parent)
        accessor = looked.json()["data"]["accessor"]
        await _run(live, race, _revoke_request(live, form, race.parent, accessor))
        assert len(race.children) > pre_existing + 2 * CREATORS
        survivors = await _still_valid(live, [race.parent, *race.children])
        assert survivors == [], f"{len(survivors)} of {len(race.children)} tokens outlived {form}"


async def test_revoke_orphan_racing_creates_leaves_only_true_orphans(live: Live) -> None:
    """revoke-orphan keeps the children, but every one of them must be a real orphan: none may
    be left pointing at the revoked parent (which used to keep `orphan: false` forever)."""
    race = await _new_parent(live, 200)
    race.grandchildren = 0.0
    await _run(live, race, ("auth/token/revoke-orphan", live.root, {"token": race.parent}))
    assert await _still_valid(live, [race.parent]) == []
    children = race.children
    for start in range(0, len(children), 32):
        answers = await asyncio.gather(
            *(live.call("GET", "auth/token/lookup-self", t) for t in children[start : start + 32])
        )
        for response in answers:
            assert response.status_code == 200, response.text
            assert response.json()["data"]["orphan"] is True


async def test_concurrent_creates_of_one_custom_id_exactly_one_wins(live: Live) -> None:
    """Twenty creates with the same `id` at once, from two workers: one 200, the rest 400."""
    for round_ in range(5):
        token_id = f"s.custom-race-{round_}"
        before = await live.call("LIST", "auth/token/accessors", live.root)
        answers = await asyncio.gather(
            *(live.create(live.root, id=token_id, policies=["creator"]) for _ in range(20))
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] + [400] * 19, [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 400)
        assert "duplicate ID" in refused.text
        winner = next(r for r in answers if r.status_code == 200).json()["auth"]
        me = await live.call("GET", "auth/token/lookup-self", token_id)
        assert me.json()["data"]["accessor"] == winner["accessor"]
        # No loser left an accessor of its own behind, pointing at the winner's token.
        after = await live.call("LIST", "auth/token/accessors", live.root)
        added = set(after.json()["data"]["keys"]) - set(before.json()["data"]["keys"])
        assert added == {winner["accessor"]}
