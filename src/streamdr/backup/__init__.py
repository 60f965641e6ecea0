"""Backups of Kafka topics to object storage: writer, layout, catalog, verification, retention."""
