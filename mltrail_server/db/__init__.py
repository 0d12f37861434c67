"""Storage: the engine and sessions, the ORM tables, and the repositories (all SQL lives here)."""
