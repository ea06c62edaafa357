"""Real servers on 127.0.0.1 that speak the protocols of our external systems.

Used by the tests, the benchmarks and ``etl demo``: the pipeline talks real
HTTP to them, nothing is patched.
"""
