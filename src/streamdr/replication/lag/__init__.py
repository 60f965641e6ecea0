"""Replication lag: the pure arithmetic, measuring it on live sites, periodic samples."""
