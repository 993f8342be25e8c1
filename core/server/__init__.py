"""The `wardgate server` process: start-up checks, storage initialisation, the root token, and
the HTTP server (granian by default, Hypercorn on request) running the one ASGI app.

The CLI calls `serve(config, config_path)`, `serve_dev(config, root_token_id)` and
`generate_root(config)`; nothing else here is its business."""

from core.server.operator import generate_root
from core.server.run import serve, serve_dev

__all__ = ["generate_root", "serve", "serve_dev"]
