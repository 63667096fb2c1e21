"""``python -m demo.services --port P [--host H] [--provider ORG] [--catalogue FILE]``."""

from __future__ import annotations

import sys

from demo.services.app import main

if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
