"""The metadata DB's own DR: continuous backup (Litestream), point-in-time restore, integrity."""
