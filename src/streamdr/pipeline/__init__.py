"""The protected pipeline: CDC into Kafka, stateless workers, idempotent delivery, DLQ, replay.

Modules: :mod:`events` (ids and record format), :mod:`cdc` (sources, checkpoints, the reader),
:mod:`transform` (running a transformation safely), :mod:`delivery` (HTTP sink with signature,
circuit breaker and backoff), :mod:`dlq` (dead letters and replay), :mod:`worker` and
:mod:`runner` (consumer groups per workflow, /health and /ready), :mod:`endpoint` (the reference
client endpoint that proves "nothing lost, nothing applied twice").
"""
