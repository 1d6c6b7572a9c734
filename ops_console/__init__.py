"""ops_console package."""
