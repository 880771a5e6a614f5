"""Regional registers kept in step: who serves whom, and what a replica is (docs/federation.md)."""
