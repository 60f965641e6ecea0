"""Raw object storage (local directory, S3, GCS, Azure) through pyarrow.fs."""

from streamdr.objectstore.store import ObjectInfo, ObjectStore, open_store

__all__ = ["ObjectInfo", "ObjectStore", "open_store"]
