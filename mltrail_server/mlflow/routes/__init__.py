"""The MLflow wire's endpoints, one module per resource."""
