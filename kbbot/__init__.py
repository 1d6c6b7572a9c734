"""kbbot package."""
