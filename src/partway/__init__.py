"""partway: a self-hosted, Apideck-compatible service for uploading large files."""

__version__ = "0.1.0"
