"""The MLflow wire's use cases, translated onto the shared services and repositories."""
