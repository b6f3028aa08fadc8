"""停机: downtime intervals of assets, availability and MTBF."""
