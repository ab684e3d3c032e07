"""Clients of a partway server."""
