"""Error roots (``docs/architecture.md``, "Errors"): every exception class a package defines ends in ``Error`` and
derives from that package's one root, private control-flow exceptions included.

Read from the source (``ast``), not by importing every module, so the check costs milliseconds: a class's bases
are resolved through its module's imports (re-exports followed) to the class that defines them.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.gitindex import tracked_files

ROOT = Path(__file__).resolve().parents[2]

#: Each package's root error. ``contracts`` and ``cli`` define none (``cli`` prints the others' in one line).
ROOTS: dict[str, str] = {
    "suite": "suite.errors.SuiteError",
    "chain": "chain.errors.ChainError",
    "notary": "notary.log.errors.NotaryError",
    "privacy": "privacy.errors.PrivacyError",
    "network": "network.errors.NetworkError",
    "gateway": "gateway.errors.GatewayError",
    "explorer": "explorer.errors.ExplorerError",
    "sdk": "sdk.client.SdkError",
    "demo": "demo.services.request.DemoError",
}
_WORTH_PARSING = re.compile(r"^\s*class \w+\(|^from \S+ import .*Error", re.MULTILINE)
_BUILTIN_EXCEPTIONS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)


@dataclass
class Module:
    imports: dict[str, str] = field(default_factory=dict)  # local name → what it names ("pkg.mod" or "pkg.mod.Name")
    classes: dict[str, list[str]] = field(default_factory=dict)  # class name → its bases as written (dotted)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too (imports inside functions), without walking expressions."""
    for node in body:
        yield node
        for attr in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(node, attr, []))
        for handler in getattr(node, "handlers", []):
            yield from _statements(handler.body)


def read_module(name: str, source: str) -> Module:
    module = Module()
    package = name if name.endswith("__init__") else name.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    for node in _statements(ast.parse(source).body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module.imports[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else (alias.name.partition(".")[0])
                )
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                module.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.ClassDef):
            module.classes[node.name] = [d for d in map(_dotted, node.bases) if d is not None]
    return module


class Tree:
    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules

    def resolve(self, where: str, dotted: str, depth: int = 0) -> str:
        """The qualified name of the class ``dotted`` names in module ``where`` (re-exports followed); a name
        outside the tree comes back as it was imported (``builtins.ValueError`` for a builtin)."""
        head, _, rest = dotted.partition(".")
        module = self.modules.get(where)
        if module is None or depth > 20:
            return dotted
        if not rest and head in module.classes:
            return f"{where}.{head}"
        target = module.imports.get(head)
        if target is None:
            return f"builtins.{dotted}" if not rest and head in _BUILTIN_EXCEPTIONS else dotted
        full = f"{target}.{rest}" if rest else target
        owner, _, name = full.rpartition(".")
        if owner in self.modules:
            return self.resolve(owner, name, depth + 1)
        return full

    def ancestors(self, qualified: str) -> set[str]:
        seen: set[str] = set()
        todo = [qualified]
        while todo:
            current = todo.pop()
            owner, _, name = current.rpartition(".")
            module = self.modules.get(owner)
            if module is None or name not in module.classes:
                continue
            for base in module.classes[name]:
                resolved = self.resolve(owner, base)
                if resolved not in seen:
                    seen.add(resolved)
                    todo.append(resolved)
        return seen

    def is_exception(self, qualified: str) -> bool:
        return any(
            a.startswith("builtins.") or a.rpartition(".")[2].endswith(("Error", "Exception"))
            for a in self.ancestors(qualified)
        )


def exception_problems(tree: Tree, roots: dict[str, str]) -> list[str]:
    """Each exception class of a rooted package that does not end in ``Error`` or does not derive from its root."""
    problems = []
    for module_name, module in sorted(tree.modules.items()):
        package = module_name.partition(".")[0]
        for name in module.classes:
            qualified = f"{module_name}.{name}"
            if package not in roots or qualified == roots[package] or not tree.is_exception(qualified):
                continue
            if not name.endswith("Error"):
                problems.append(f"{qualified}: the name does not end in Error")
            if roots[package] not in tree.ancestors(qualified):
                problems.append(f"{qualified}: does not derive from {roots[package]}")
    return problems


@functools.cache
def project_tree() -> Tree:
    modules = {}
    for path in tracked_files(ROOT):
        if not path.endswith(".py") or path.split("/")[0] in ("tests", "bench") or "/" not in path:
            continue
        name = path.removesuffix(".py").replace("/", ".")
        source = (ROOT / path).read_text(encoding="utf-8")
        # Only a module with a class that has bases, or that imports an error to hand on, can matter; parsing
        # the others would only cost time.
        if _WORTH_PARSING.search(source):
            modules[name.removesuffix(".__init__")] = read_module(name, source)
    return Tree(modules)


def test_every_exception_of_a_package_ends_in_error_and_derives_from_its_root() -> None:
    assert exception_problems(project_tree(), ROOTS) == []


def test_the_roots_are_where_the_architecture_says() -> None:
    tree = project_tree()
    for root in ROOTS.values():
        owner, _, name = root.rpartition(".")
        assert name in tree.modules[owner].classes, root
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    errors = " ".join(text[text.index("## Errors") :].split())
    for root in ROOTS.values():
        owner, _, name = root.rpartition(".")
        assert f"`{name}` (`{owner.replace('.', '/')}.py`)" in errors, root


def test_the_check_sees_a_second_root_a_bad_name_and_a_private_escape() -> None:
    tree = Tree(
        {
            "pkg.errors": read_module("pkg.errors", "class PkgError(Exception): ...\n"),
            "pkg._der": read_module("pkg._der", "class DERError(ValueError): ...\n"),
            "pkg.run": read_module(
                "pkg.run",
                "from pkg.errors import PkgError\nfrom pkg import errors\n"
                "class _Skip(Exception): ...\nclass Fine(PkgError): ...\nclass GoodError(errors.PkgError): ...\n"
                "class NotAnException: ...\n",
            ),
        }
    )
    assert exception_problems(tree, {"pkg": "pkg.errors.PkgError"}) == [
        "pkg._der.DERError: does not derive from pkg.errors.PkgError",
        "pkg.run._Skip: the name does not end in Error",
        "pkg.run._Skip: does not derive from pkg.errors.PkgError",
        "pkg.run.Fine: the name does not end in Error",
    ]
