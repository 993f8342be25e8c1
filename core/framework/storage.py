"""The storage a plugin is given (`BackendContext.storage`, a view under its mount's prefix) and
the write operations it takes. Plugins import these from here, the plugin contract, rather than
from the storage backends."""

from core.storage.base import Delete, Put, Storage, StorageView, WriteOp

__all__ = ["Delete", "Put", "Storage", "StorageView", "WriteOp"]
