"""The tree hashes a log may use, for parametrising the tree tests: each test runs once per hash."""

from __future__ import annotations

import pytest

from notary.log.hashing import SHA256, SM3

TREES = (SHA256, SM3)

#: ``@each_tree`` runs a test taking ``tree: TreeHash`` once with SHA-256 and once with SM3.
each_tree = pytest.mark.parametrize("tree", TREES, ids=[tree.name for tree in TREES])
