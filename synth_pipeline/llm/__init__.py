"""Generator and judge backends behind one interface (transport only; tasks live elsewhere)."""
