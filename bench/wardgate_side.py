"""wardgate as the benchmark runs it: SQLite (or PostgreSQL) storage, N workers, an AliCloud
mount whose STS calls go to `wardgate sts-emulator` (its own process), and the benchmark
objects."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import feeds
from bench.api import Api, ApiError
from bench.procs import Service, free_port, wait_for_port

POLICY_NAME = "bench-reader"
ROLE = "r1"
ROLE_PATH = f"auth/alicloud/role/{ROLE}"
LOGIN_PATH = "auth/alicloud/login"
READER_POLICY = 'path "auth/alicloud/role/*" { capabilities = ["read", "list"] }'
ROLE_BODY = {"arn": feeds.ROLE_ARN, "token_policies": "default", "token_ttl": "1h"}
# AppRole, set up as bench/openbao_side.py sets up OpenBao's (same role, same secret ID rules).
APPROLE_ROLE_PATH = f"auth/approle/role/{ROLE}"
APPROLE_LOGIN_PATH = "auth/approle/login"
APPROLE_ROLE_BODY = {
    "token_policies": "default",
    "token_ttl": "1h",
    "secret_id_num_uses": 0,
    "secret_id_ttl": 0,
}


def wardgate_argv() -> list[str]:
    """The `wardgate` command of the interpreter running the harness (the project's venv)."""
    script = Path(sys.executable).with_name("wardgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def start_emulator(workdir: Path) -> tuple[Service, str]:
    identities = workdir / "sts-identities.json"
    feeds.write_identities(identities)
    port = free_port()
    service = Service(
        "sts-emulator",
        [
            *wardgate_argv(),
            "sts-emulator",
            "--listen",
            f"127.0.0.1:{port}",
            "--identities",
            str(identities),
        ],
        workdir / "sts-emulator.log",
    )
    try:
        wait_for_port(port, 30, service.proc)
    except BaseException:
        service.stop()
        raise
    return service, f"http://127.0.0.1:{port}"


def write_config(
    path: Path,
    *,
    port: int,
    workers: int,
    db: Path,
    sts_url: str,
    http: str = "granian",
    storage: str = "",
    audit: bool = False,
) -> None:
    """`storage`: a whole `[storage]` table (PostgreSQL); empty: SQLite in `db`."""
    storage = storage or f'[storage]\nbackend = "sqlite"\npath = "{db}"\n'
    # --audit: one file audit device, written by every worker (what an audited production
    # server pays per request).
    audit_block = (
        f"""
[[audit]]
path = "file"
type = "file"
options = {{ file_path = "{path.parent / "audit.log"}" }}
"""
        if audit
        else ""
    )
    path.write_text(
        f"""# written by bench/run.py
[server]
address = "127.0.0.1:{port}"
workers = {workers}
http = "{http}"

{storage}

[log]
level = "warning"

[[auth]]
path = "alicloud"
type = "alicloud"

[auth.config]
sts_endpoint = "{sts_url}"

[[auth]]
path = "approle"
type = "approle"
"""
        + audit_block
    )


_ROOT_RE = re.compile(r"^Root token: (\S+)", re.M)


@dataclass
class Wardgate:
    """One wardgate server (a config file and its database in `workdir`)."""

    workdir: Path
    workers: int
    sts_url: str
    http: str = "granian"  # server.http: the HTTP server under test
    port: int = 0
    service: Service | None = None
    # Set it before start() for a node joining an initialised database (no token printed).
    root_token: str = ""
    storage: str = ""  # a `[storage]` table (PostgreSQL); empty: SQLite in `db`
    audit: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.workdir / "wardgate.db"

    @property
    def config_path(self) -> Path:
        return self.workdir / "wardgate.toml"

    def start(self, timeout: float = 60) -> None:
        """Start (or restart) the server; on the database's first start, read the root token
        it prints once on stderr."""
        if not self.port:
            self.port = free_port()
        write_config(
            self.config_path,
            port=self.port,
            workers=self.workers,
            db=self.db,
            sts_url=self.sts_url,
            http=self.http,
            storage=self.storage,
            audit=self.audit,
        )
        log = self.workdir / "wardgate.log"
        already = log.read_text(errors="replace") if log.exists() else ""
        self.service = Service(
            "wardgate",
            [*wardgate_argv(), "server", "--config", str(self.config_path)],
            log,
        )
        try:
            wait_for_port(self.port, timeout, self.service.proc)
            if not self.root_token:
                deadline = time.monotonic() + timeout
                while not self.root_token:
                    match = _ROOT_RE.search(self.service.log_text()[len(already) :])
                    if match:
                        self.root_token = match.group(1)
                    elif time.monotonic() > deadline:
                        raise RuntimeError(f"wardgate printed no root token; see {log}")
                    else:
                        time.sleep(0.05)
            api = Api(self.url)
            try:
                api.wait_healthy(timeout)
                # Every worker builds its app on its first request: warm them all up.
                for _ in range(8 * self.workers):
                    api.status("GET", "sys/health")
            finally:
                api.close()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def rss_bytes(self) -> int:
        return self.service.rss_bytes() if self.service else 0


@dataclass
class WardgateObjects:
    reader_token: str
    acl: bool  # the policy could be written and the reader token may read the role
    acl_note: str
    approle_login: dict[str, str]  # a role_id/secret_id pair of role r1 at approle/


def create_objects(server: Wardgate) -> WardgateObjects:
    """The policy, a non-root token holding it, and role r1 for the bench identity."""
    api = Api(server.url, server.root_token)
    try:
        policy_status = api.status("PUT", f"sys/policy/{POLICY_NAME}", {"policy": READER_POLICY})
        if policy_status in (404, 405):
            note = (
                f"wardgate has no sys/policy endpoint yet (PUT sys/policy/{POLICY_NAME} -> "
                f"{policy_status}); ACL policies are not wired in"
            )
        elif policy_status not in (200, 204):
            raise ApiError("PUT", f"sys/policy/{POLICY_NAME}", policy_status, "")
        else:
            note = ""
        api.request("POST", ROLE_PATH, ROLE_BODY)
        created = api.request("POST", "auth/token/create", {"policies": [POLICY_NAME], "ttl": "2h"})
        reader = created["auth"]["client_token"]
        lookup = api.status("GET", "auth/token/lookup-self", token=reader)
        if lookup != 200:
            raise RuntimeError(f"wardgate: lookup-self with the non-root token -> {lookup}")
        read = api.status("GET", ROLE_PATH, token=reader)
        if read != 200 and not note:
            note = (
                f"the non-root token holding {POLICY_NAME} gets {read} on GET {ROLE_PATH} "
                "(policy written, but not enforced as granted)"
            )
        return WardgateObjects(
            reader_token=reader,
            acl=read == 200,
            acl_note=note,
            approle_login=approle_objects(api),
        )
    finally:
        api.close()


def approle_objects(api: Api) -> dict[str, str]:
    """Role r1 at approle/ and a secret ID usable any number of times; one login checks them."""
    api.request("POST", APPROLE_ROLE_PATH, APPROLE_ROLE_BODY)
    role_id = api.request("GET", f"{APPROLE_ROLE_PATH}/role-id")["data"]["role_id"]
    secret_id = api.request("POST", f"{APPROLE_ROLE_PATH}/secret-id", {})["data"]["secret_id"]
    body = {"role_id": role_id, "secret_id": secret_id}
    if not api.request("POST", APPROLE_LOGIN_PATH, body, token="")["auth"]["client_token"]:
        raise RuntimeError("wardgate AppRole login returned no token")
    return body


def check_login(server: Wardgate, workdir: Path) -> None:
    """One real login through the emulator, so a broken setup fails before any load."""
    feed = workdir / "login-check.txt"
    feeds.write_login_feed(feed, 1, ROLE)
    api = Api(server.url)
    try:
        body = json.loads(feed.read_text().splitlines()[0])
        answer = api.request("POST", LOGIN_PATH, body, token="")
        if not answer.get("auth", {}).get("client_token"):
            raise RuntimeError(f"wardgate login returned no token: {answer}")
    finally:
        api.close()


def check_token(server: Wardgate, token: str) -> None:
    """The server accepts a token the harness stored directly (same key, same layout)."""
    api = Api(server.url)
    try:
        status = api.status("GET", "auth/token/lookup-self", token=token)
    finally:
        api.close()
    if status != 200:
        raise RuntimeError(
            f"wardgate refuses ({status}) a token the harness wrote into its database: the "
            "token store's layout or hashing differs from what bench/scale.py assumes (or "
            "changed while the harness ran)"
        )
