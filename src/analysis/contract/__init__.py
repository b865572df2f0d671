"""The data contract and I/O: table schemas, loading and validation, run profiles, privacy, the analysis store, the demo generator."""
