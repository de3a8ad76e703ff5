"""Load and query-count benchmarks (see README.md). Not part of the app."""
