"""MirrorMaker 2: its config and Strimzi rendering, the local runner and supervisor, its records."""
