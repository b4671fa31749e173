"""Seed prompts: passages cut from real documents and the task templates rendered on them."""
