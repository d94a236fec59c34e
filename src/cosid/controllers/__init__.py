"""Controllers (DESIGN layer 6): per domain, what it reads, what it writes, reconcile, teardown."""
