"""The jeeves benchmark: `python -m bench` (see bench/run.py)."""
