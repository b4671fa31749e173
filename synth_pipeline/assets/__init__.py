"""Dagster assets: each module wires one stage's logic to its tables; logic lives elsewhere."""
