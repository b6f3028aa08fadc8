"""Edge rules: turn samples into alarm raise/clear events."""
