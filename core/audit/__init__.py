"""Audit devices: every request and response, secrets HMAC'd, "audit or fail" (Vault's model).

`AuditRecord` (record.py) is what a face of the server fills in while it serves a request;
`AuditBroker` (broker.py) turns it into one JSON line per device and writes it. The pipeline calls
`log_request` before a handler runs and `log_response` after; any other face (e.g. an `/api/v1`
face) does the same with its own record, so every request goes through the same hooks.
"""

from core.audit.broker import AuditBroker, AuditFailed
from core.audit.record import AuditRecord

__all__ = ["AuditBroker", "AuditFailed", "AuditRecord"]
