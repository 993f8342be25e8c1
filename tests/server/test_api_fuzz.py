"""A bounded property-based fuzz run (schemathesis) against a real `wardgate server --dev`,
loading the server's own OpenAPI document (sys/internal/specs/openapi as the root token sees
it, approle mounted besides the dev server's alicloud and token mounts).

Two runs over every documented operation (but PUT, which is POST), both with schema-valid and
schema-violating input (bodies, path captures, query strings):

- with the root token: no 5xx, each status is one the document declares for the operation,
  and the content type and body (errors as `{"errors": [...]}`) match the document;
- with no token: the same checks, and every path that needs a token answers 403 (never a
  success, never 5xx).

Bounded and repeatable: schemathesis' deterministic mode (Hypothesis `derandomize`), a few
examples per operation, no shrinking, no example database, one worker. A failure lists the
operation, what was wrong and a curl line that replays it; `pytest -rP` shows how many requests
each run sent and their statuses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.engine import Status, events

from tests.support.server import client_env, running_server

ROOT = "fuzz-root-token"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]

# Left out of the run with the root token (each has its own tests):
# - enabling an audit device writes a file (or opens a socket) wherever the body says;
# - revoke-self would end the root token and turn the rest of the run into 403s.
NOT_FUZZED_WITH_TOKEN = r"^/sys/audit/\{path\}$|^/auth/token/revoke-self$"

# What a client may call without a token: sys/ status endpoints, the wrapping endpoints that
# take the wrapping token itself, and logins. Everything else must be refused with 403.
UNAUTHENTICATED = (
    "/sys/health",
    "/sys/seal-status",
    "/sys/leader",
    "/sys/internal/specs/openapi",
    "/sys/wrapping/lookup",
    "/sys/wrapping/unwrap",
    "/sys/wrapping/rewrap",
    "/auth/alicloud/login",
    "/auth/approle/login",
)
# A malformed request is refused before the token is looked at, as Vault does: a raw path with
# a control character, a `list` query that is not a boolean (the verb is not known yet).
MALFORMED = (
    "the request path contains a control character",
    'invalid value for "list"',
)


class ProtectedPathAnswered(Failure):
    code = "ST950"
    kind_title = "A path that needs a token answered a request without one"


@schemathesis.check
def unauthenticated_is_403(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    headers = {k.lower() for k in (case.headers or {})}
    if "x-vault-token" in headers or "authorization" in headers:
        return None
    if case.operation.path in UNAUTHENTICATED or response.status_code == 403:
        return None
    if response.status_code == 400:
        errors = " ".join(response.json().get("errors", []))
        if any(text in errors for text in MALFORMED):
            return None
    raise ProtectedPathAnswered(
        operation=case.operation.label,
        message=f"expected 403 without a token, got {response.status_code}: {response.text}",
    )


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("fuzz")
    args = ["--dev", "--dev-root-token-id", ROOT]
    with running_server(args, client_env(home), log_dir=home / "server") as (url, server):
        headers = {"X-Vault-Token": ROOT}
        mounted = httpx.post(
            f"{url}/v1/sys/auth/approle", json={"type": "approle"}, headers=headers
        )
        assert mounted.status_code == 204, mounted.text
        document = httpx.get(f"{url}/v1/sys/internal/specs/openapi", headers=headers)
        assert document.status_code == 200, document.text
        yield url, document.json()
        assert server.returncode is None, server.describe()


def load_schema(
    url: str, document: dict[str, Any], *, max_examples: int, phases: list[str]
) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=f"{url}/v1", request_timeout=30, workers=1)
    schema.config.generation.update(max_examples=max_examples, deterministic=True, no_shrink=True)
    for name in ("examples", "coverage", "fuzzing", "stateful"):
        getattr(schema.config.phases, name).enabled = name in phases
    # PUT is POST (one operation, one handler; tests/core checks both verbs): fuzzed once.
    return schema.exclude(method="PUT")


def fuzz(schema: schemathesis.BaseSchema, checks: list[str]) -> tuple[Counter[int], list[str]]:
    """Run the engine: how many responses had each status, and one entry per failure."""
    schema.config.checks.update(included_check_names=checks)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        for interaction in event.recorder.interactions.values():
            if interaction.response is not None:
                statuses[interaction.response.status_code] += 1
        for nodes in event.recorder.checks.values():
            for node in nodes:
                if node.status is Status.FAILURE and node.failure_info is not None:
                    failure = node.failure_info.failure
                    failures.append(
                        f"{event.label} [{node.name}] {failure.title}: {failure.message}\n"
                        f"    {node.failure_info.code_sample}"
                    )
    return statuses, failures


def test_fuzz_with_root_token(fuzz_server: tuple[str, dict[str, Any]]) -> None:
    url, document = fuzz_server
    schema = load_schema(url, document, max_examples=2, phases=["coverage", "fuzzing"])
    schema.config.update(headers={"X-Vault-Token": ROOT})
    # The coverage phase sends boundary values of every declared constraint, valid and not;
    # of the methods a path does not serve one is enough (the 405 path is the pipeline's).
    schema.config.phases.coverage.unexpected_methods = {"PATCH"}
    schema = schema.exclude(path_regex=NOT_FUZZED_WITH_TOKEN)
    statuses, failures = fuzz(schema, CHECKS)
    print(f"with the root token: {statuses.total()} requests, {dict(statuses)}")  # -rP shows it
    assert not failures, "\n".join(failures)
    # The run reached handlers: successes and refusals of the input, not only one status.
    assert statuses[200] > 50 and statuses[400] > 500, statuses


def test_fuzz_without_token(fuzz_server: tuple[str, dict[str, Any]]) -> None:
    url, document = fuzz_server
    schema = load_schema(url, document, max_examples=2, phases=["fuzzing"])
    statuses, failures = fuzz(schema, [*CHECKS, "unauthenticated_is_403"])
    print(f"without a token: {statuses.total()} requests, {dict(statuses)}")
    assert not failures, "\n".join(failures)
    assert statuses[403] > 150, statuses
