"""Business rules of partway: sessions, parts, digests, expiry.

Imports no web framework, SQL driver or cloud SDK.
"""
