"""The embeddable chat widget (static `widget.js`) and the demo shop page that embeds it."""
