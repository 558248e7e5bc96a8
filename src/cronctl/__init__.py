"""cronctl: incident toolkit for scheduled HTTP jobs."""

__version__ = "0.1.0"
