"""The typed services: one generic servicer serves every domain's cosi.<domain>.v1alpha1."""
