"""Territory reports: analyses for pharmaceutical field forces."""
__version__ = "0.1.0"
