"""Training the expert classifier from a manifest of labelled radiographs."""
