"""Model backends: protocols, the registry, one file per backend, test doubles."""
