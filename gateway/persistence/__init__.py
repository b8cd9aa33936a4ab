"""Persistence: tables, the database handle and migrations. Nothing above it knows SQL dialects."""
