"""exptrack: the Python SDK and CLI of Experiment Tracker."""

__all__: list[str] = []
