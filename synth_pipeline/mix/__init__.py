"""Mix assembly: candidates, duplicate and contamination removal (the SQL models do the rest)."""
