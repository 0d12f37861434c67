"""Repositories: every SQL statement of the application, grouped by the table it serves.
They flush; the service that called them commits."""
