"""Reading real text: sources, the built-in corpus, and published quality rules."""
