"""gRPC serving (DESIGN layer 7): the COSI State service, reflection and health."""
