"""The HTTP layer: maps requests onto maintenance services; it holds no business rules."""
