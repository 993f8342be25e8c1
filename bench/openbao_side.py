"""OpenBao as the benchmark runs it: raft storage, initialised with one key share and unsealed
(not dev mode), AppRole at approle/, and the same benchmark objects as on wardgate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.api import Api
from bench.procs import Service, free_port, wait_for_port

POLICY_NAME = "bench-reader"
ROLE = "r1"
ROLE_PATH = f"auth/approle/role/{ROLE}"
LOGIN_PATH = "auth/approle/login"
READER_POLICY = 'path "auth/approle/role/*" { capabilities = ["read", "list"] }'
ROLE_BODY = {"token_policies": "default", "token_ttl": "1h"}


@dataclass
class OpenBao:
    workdir: Path
    binary: str
    port: int = 0
    service: Service | None = None
    root_token: str = ""
    unseal_key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        cluster_port = free_port()
        data = self.workdir / "raft"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "openbao.hcl"
        config.write_text(
            f"""storage "raft" {{
  path    = "{data}"
  node_id = "n1"
}}

listener "tcp" {{
  address     = "127.0.0.1:{self.port}"
  tls_disable = true
}}

api_addr      = "http://127.0.0.1:{self.port}"
cluster_addr  = "http://127.0.0.1:{cluster_port}"
disable_mlock = true
ui            = false
log_level     = "warn"
"""
        )
        self.service = Service(
            "openbao",
            [self.binary, "server", f"-config={config}"],
            self.workdir / "openbao.log",
        )
        try:
            wait_for_port(self.port, timeout, self.service.proc)
            self._init_and_unseal(timeout)
        except BaseException:
            self.stop()
            raise

    def _init_and_unseal(self, timeout: float) -> None:
        """`bao operator init -key-shares=1 -key-threshold=1`, then unseal, then wait until
        this node is the raft leader and active (sys/health 200), through the HTTP API."""
        api = Api(self.url)
        try:
            # sys/health: 501 = not initialised, 503 = sealed, 429 = standby, 200 = active.
            api.wait_healthy(timeout, ok=(200, 429, 501, 503))
            init = api.request("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
            self.unseal_key = init["keys"][0]
            self.root_token = init["root_token"]
            api.request("PUT", "sys/unseal", {"key": self.unseal_key})
            api.wait_healthy(timeout)
            # Active, but the first writes after a raft election may still be refused for a
            # moment; retry a harmless read until the token store answers.
            deadline = time.monotonic() + timeout
            while api.status("GET", "auth/token/lookup-self", token=self.root_token) != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("OpenBao did not become usable after unsealing")
                time.sleep(0.2)
        finally:
            api.close()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def rss_bytes(self) -> int:
        return self.service.rss_bytes() if self.service else 0


@dataclass
class OpenBaoObjects:
    reader_token: str
    role_id: str
    secret_id: str


def create_objects(server: OpenBao) -> OpenBaoObjects:
    """AppRole at approle/, role r1 (secrets usable any number of times), the reader policy,
    a non-root token holding it, and a role_id/secret_id pair for logins."""
    api = Api(server.url, server.root_token)
    try:
        api.request("POST", "sys/auth/approle", {"type": "approle"})
        api.request("POST", ROLE_PATH, {**ROLE_BODY, "secret_id_num_uses": 0, "secret_id_ttl": 0})
        api.request("PUT", f"sys/policy/{POLICY_NAME}", {"policy": READER_POLICY})
        created = api.request("POST", "auth/token/create", {"policies": [POLICY_NAME], "ttl": "2h"})
        reader = created["auth"]["client_token"]
        role_id = api.request("GET", f"{ROLE_PATH}/role-id")["data"]["role_id"]
        secret_id = api.request("POST", f"{ROLE_PATH}/secret-id", {})["data"]["secret_id"]
        for path in ("auth/token/lookup-self", ROLE_PATH):
            status = api.status("GET", path, token=reader)
            if status != 200:
                raise RuntimeError(f"OpenBao: GET {path} with the non-root token -> {status}")
        login = api.request(
            "POST", LOGIN_PATH, {"role_id": role_id, "secret_id": secret_id}, token=""
        )
        if not login["auth"]["client_token"]:
            raise RuntimeError("OpenBao AppRole login returned no token")
        return OpenBaoObjects(reader_token=reader, role_id=role_id, secret_id=secret_id)
    finally:
        api.close()
