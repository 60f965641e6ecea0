"""Failover and failback: the pure plan, its step-by-step execution, validation, runs."""
