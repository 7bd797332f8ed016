"""Provider webhooks: verify the signature, refuse replays, apply through the feed's path."""
