"""TaskBot NLU: intent classification with out-of-scope detection, and slot extraction."""
