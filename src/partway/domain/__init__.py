"""Business rules of partway: sessions, parts, digests, expiry. Imports no web, SQL or cloud code."""
