"""The quality report: figures gathered once, rendered as table, Markdown and HTML."""
