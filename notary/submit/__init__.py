"""The recorder side of the audit log, used by anything that records events (the gateway, the explorer's own
audit): salted digests of requests and responses with the salt vault they take each event's salt from and the
documents that reveal one, the durable outbox, and the shipper that sends the outbox to the notary in signed
batches."""
