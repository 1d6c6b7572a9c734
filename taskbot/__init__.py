"""taskbot package."""
