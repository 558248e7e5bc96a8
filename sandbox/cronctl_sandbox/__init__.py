"""Throwaway PostgreSQL clusters with pg_cron loaded, for tests, demos and benchmarks."""
