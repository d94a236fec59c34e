"""`python -m tests.bench`: cosid's performance figures, measured in one run on this machine.

Module names carry no `test_` prefix: pytest must not collect the benchmark.
"""
