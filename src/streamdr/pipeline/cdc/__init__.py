"""Change data capture: PostgreSQL logical decoding (pgoutput) and the SQLite demo source.

A source yields committed transactions after a position; the reader writes their changes to
Kafka (acks=all, idempotent), checkpoints the position in a compacted topic, and only then lets
the source forget them (slot advance / change-table prune).
"""
