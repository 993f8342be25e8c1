"""Alibaba Cloud RAM authentication (Vault's `alicloud` auth method) and an STS emulator."""
