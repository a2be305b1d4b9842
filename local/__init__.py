"""The local lab and its cloud twin, run from the repository root as `python -m local....`."""
