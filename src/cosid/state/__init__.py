"""The resource store (DESIGN layer 3): versioned COSI resources, queries and watches."""
