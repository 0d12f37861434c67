"""The MLflow compatibility layer, in one package: its router (`router.py`) and routes, its
wire models (`wire.py`), the translation and rendering between them and the shared services
(`translate.py`, `render.py`, `search.py`, `services/`), and how its errors are answered
(`errors.py`). Callers outside import the module they need; this file imports nothing, so
that core modules using `translate` do not pull the routes in."""
