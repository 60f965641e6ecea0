"""Restore from backups: pure plans, the executor, offset maps and consumer-group offset tools."""
