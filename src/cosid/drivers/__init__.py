"""Drivers (DESIGN layer 5): how a domain touches the system.

One package per domain: a small Protocol in `driver.py` and its implementations beside it,
each taking a root prefix so that a sandbox or a test can point it at a private tree.
"""
