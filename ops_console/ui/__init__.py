"""The Gradio operator console, mounted at /console in the csbot server."""
