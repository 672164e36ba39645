"""pml_core: probabilistic metric learning."""
