"""备品备件: spare parts per site store, their use on work orders, movements and counts."""
