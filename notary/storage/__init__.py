"""Storage backends of the notary behind one narrow interface (``notary.storage.base``): ``sqlite`` (embedded,
the default) and ``postgres`` (PostgreSQL + an S3-compatible object store, for several notary replicas)."""
