"""Hostile input: hypothesis-generated malformed requests to every RPC of a real daemon."""
