"""The ``consortium`` command: one module per command group, :mod:`cli.main` the entry point."""
