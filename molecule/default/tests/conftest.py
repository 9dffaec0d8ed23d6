"""testinfra verifier of the default scenario."""
