"""Object storage behind one interface. Clients (CLI, flows) only ever get signed URLs, or
small files inline in a body (``rgrid_common.inline``)."""

from rgrid_api.storage.base import ObjectInfo, ObjectStore, SignedUpload
from rgrid_api.storage.factory import build_object_store

__all__ = ["ObjectInfo", "ObjectStore", "SignedUpload", "build_object_store"]
