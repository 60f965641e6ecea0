"""The local runtimes: the Kafka distribution's jars and Java, marked JVM processes, ports, and
PostgreSQL's own binaries (pg_ctl, initdb) for the metadata DB and the test and drill rig.

A foundation below the lab, MirrorMaker 2 and the quorum check: nothing here knows a lab layout.
"""
