"""The domain analyses (DESIGN 4): pure functions, DataFrames in, DataFrames out, and the national pass."""
