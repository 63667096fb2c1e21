"""The recorder side of the audit log, used by anything that records events (the gateway, the explorer's own
audit): salted digests of requests and responses, the durable outbox, and the shipper that sends the outbox to
the notary in signed batches."""
