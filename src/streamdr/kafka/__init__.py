"""Thin, lazy, typed wrappers over confluent-kafka; library errors are mapped here."""
