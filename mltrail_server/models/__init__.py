"""Pydantic request and response schemas of the v1 API (the seed calls these "models")."""
