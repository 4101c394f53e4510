"""Push delivery (DECISIONS S3): outbox events fanned out to the subscriptions they match, delivered through a
channel per subscription channel, in order per (subscription, device), retried with backoff, then dead letters.
"""
