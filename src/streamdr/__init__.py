"""streamdr: disaster recovery for Kafka streaming platforms."""

__version__ = "0.1.0"
