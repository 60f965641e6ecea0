"""The reference client endpoint: verifies signatures, applies each idempotency key once."""
