"""``make bench``: the scale scenarios of issue 7, each in its own process (see run.py)."""
