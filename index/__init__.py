"""Indexing: load → clean → chunk → embed → store."""
