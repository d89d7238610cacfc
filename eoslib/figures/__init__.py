"""Figure functions of the book: each draws one of the paper's figures from computed data."""
