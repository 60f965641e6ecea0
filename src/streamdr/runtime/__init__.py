"""The local Kafka runtime: the Kafka distribution's jars and Java, marked JVM processes, ports.

A foundation below the lab, MirrorMaker 2 and the quorum check: nothing here knows a lab layout.
"""
