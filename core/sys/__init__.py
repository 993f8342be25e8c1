"""The built-in `sys/` endpoints."""
