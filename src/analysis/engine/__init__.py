"""The batch engine: jobs, executors, kernels, fingerprints and the command line."""
