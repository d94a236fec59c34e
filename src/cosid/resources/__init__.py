"""Resource models (DESIGN layer 2): one module per domain with its spec and status models.

All validation of a domain's input lives in its models, once; the typed services, the
controllers and the drivers rely on it instead of checking again.
"""
