"""The token store and the `auth/token` backend."""
