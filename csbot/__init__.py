"""csbot: the shared spine of the customer-service system."""
__version__ = "0.1.0"
