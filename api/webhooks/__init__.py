"""Outgoing webhooks: subscriptions, signing, delivery with backoff, the delivery log."""
