"""Where a Vyper contract keeps a value in storage, and how the words read there decode, from the layout the
compiler wrote into the contract's artifact (``contracts.compile``: each variable's slot and type, each struct
member's offset in words).

Vyper 0.4's rules, which the layout's numbers follow: every value type takes one whole 32-byte word (nothing is
packed); a struct's members follow each other from its slot; a ``String``/``Bytes`` is its length in the first
word and its bytes from the next, left-aligned; a ``DynArray`` is its length, then its elements; a fixed array is
its elements; ``HashMap[k, v]`` at slot ``s`` keeps ``v`` for ``k`` at ``keccak256(s ++ k)``, ``k`` as a 32-byte
word (an address left-padded).

:func:`read` decodes values from a source of storage words that may not hold them yet: each round it names the
words it still needs (a string's bytes are needed only once its length is known), the caller fetches them all at
once (``chain.contracts.proven`` proves them), and it tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from chain.errors import ChainError, MalformedError
from contracts import load_artifact

#: A storage type as the artifact describes it: a value type's name, or an object with ``kind``.
Type = str | dict[str, Any]
WORD = 32
#: Most rounds :func:`read` takes: one more than the deepest nesting of lengths in our contracts needs.
MAX_ROUNDS = 8


class LayoutError(ChainError):
    """A value asked for is not in the contract's storage layout, or the stored words cannot be that value."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value of ``type`` starts in a contract's storage; ``name`` says how it was reached."""

    slot: int
    type: Type
    name: str

    def at(self, key: object) -> Location:
        """The value a ``HashMap`` keeps for ``key``."""
        kind = self._kind("hashmap")
        word = key_word(kind["key"], key)
        slot = int.from_bytes(keccak(self.slot.to_bytes(WORD, "big") + word), "big")
        return Location(slot, kind["value"], f"{self.name}[{_show(key)}]")

    def member(self, name: str) -> Location:
        """A member of a struct."""
        kind = self._kind("struct")
        for member in kind["members"]:
            if member["name"] == name:
                return Location(self.slot + int(member["offset"]), member["type"], f"{self.name}.{name}")
        raise LayoutError(f"{self.name}: struct {kind['name']} has no member {name!r}")

    def _kind(self, kind: str) -> dict[str, Any]:
        if not isinstance(self.type, dict) or self.type.get("kind") != kind:
            raise LayoutError(f"{self.name} is a {describe(self.type)}, not a {kind}")
        return self.type


class StorageLayout:
    """The storage variables of one contract."""

    def __init__(self, contract: str, variables: Mapping[str, Any]) -> None:
        self.contract = contract
        self._variables = dict(variables)

    @classmethod
    def of(cls, contract: str) -> StorageLayout:
        """The layout in contract ``contract``'s committed artifact."""
        return cls(contract, load_artifact(contract).storage)

    def variable(self, name: str) -> Location:
        entry = self._variables.get(name)
        if entry is None:
            raise LayoutError(f"{self.contract} has no storage variable {name!r}")
        return Location(int(entry["slot"]), entry["type"], f"{self.contract}.{name}")


def describe(typ: Type) -> str:
    if isinstance(typ, str):
        return typ
    kind = typ["kind"]
    if kind in ("string", "bytes"):
        return f"{kind.title()}[{typ['max']}]"
    if kind == "dynarray":
        return f"DynArray[{describe(typ['of'])}, {typ['max']}]"
    if kind == "array":
        return f"{describe(typ['of'])}[{typ['length']}]"
    if kind == "hashmap":
        return f"HashMap[{describe(typ['key'])}, {describe(typ['value'])}]"
    return f"struct {typ['name']}"


def words(typ: Type) -> int:
    """How many storage words a value of ``typ`` takes (a ``HashMap`` one, its own slot, unused)."""
    if isinstance(typ, str):
        return 1
    kind = typ["kind"]
    if kind in ("string", "bytes"):
        return 1 + -(-int(typ["max"]) // WORD)
    if kind == "dynarray":
        return 1 + int(typ["max"]) * words(typ["of"])
    if kind == "array":
        return int(typ["length"]) * words(typ["of"])
    if kind == "struct":
        return int(typ["words"])
    return 1


def _show(key: object) -> str:
    return "0x" + key.hex() if isinstance(key, bytes) else repr(key)


def key_word(typ: Type, key: object) -> bytes:
    """The 32-byte word a ``HashMap`` hashes for ``key`` of value type ``typ``."""
    if typ == "address" and isinstance(key, bytes) and len(key) == 20:
        return key.rjust(WORD, b"\0")
    if typ == "bytes32" and isinstance(key, bytes) and len(key) == WORD:
        return key
    if isinstance(typ, str) and typ.startswith("uint") and isinstance(key, int) and 0 <= key < 2**256:
        return key.to_bytes(WORD, "big")
    raise LayoutError(f"a key of type {describe(typ)} cannot be {_show(key)}")


def _value(typ: str, word: int) -> Any:
    if typ.startswith("uint"):
        return word
    if typ.startswith("int"):
        return word - 2**256 if word >= 2**255 else word
    if typ == "bool":
        return word != 0
    if typ == "address":
        return word.to_bytes(WORD, "big")[12:]
    if typ.startswith("bytes"):
        return word.to_bytes(WORD, "big")[: int(typ[5:])]
    raise LayoutError(f"a value of type {typ} is not decoded here")


class _Words:
    """The words known so far; a word not known reads as 0 and is noted as needed."""

    def __init__(self, known: Mapping[int, int]) -> None:
        self.known = known
        self.needed: set[int] = set()

    def __call__(self, slot: int) -> int:
        value = self.known.get(slot)
        if value is None:
            self.needed.add(slot)
            return 0
        return value


def _decode(loc: Location, word: _Words) -> Any:
    typ = loc.type
    if isinstance(typ, str):
        return _value(typ, word(loc.slot))
    kind = typ["kind"]
    if kind in ("string", "bytes"):
        length = word(loc.slot)
        if length > int(typ["max"]):
            raise LayoutError(f"{loc.name}: stored length {length} exceeds the type's {typ['max']}")
        data = b"".join(word(loc.slot + 1 + i).to_bytes(WORD, "big") for i in range(-(-length // WORD)))[:length]
        if kind == "bytes":
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise LayoutError(f"{loc.name}: the stored string is not UTF-8") from None
    if kind in ("dynarray", "array"):
        if kind == "dynarray":
            count, first = word(loc.slot), loc.slot + 1
            if count > int(typ["max"]):
                raise LayoutError(f"{loc.name}: stored length {count} exceeds the type's {typ['max']}")
        else:
            count, first = int(typ["length"]), loc.slot
        size = words(typ["of"])
        return [_decode(Location(first + i * size, typ["of"], f"{loc.name}[{i}]"), word) for i in range(count)]
    if kind == "struct":
        return {m["name"]: _decode(loc.member(m["name"]), word) for m in typ["members"]}
    raise LayoutError(f"{loc.name}: a HashMap is read one key at a time (Location.at)")


def read(locations: Sequence[Location], fetch: Callable[[list[int]], Mapping[int, int]]) -> list[Any]:
    """The values at ``locations``, decoded; ``fetch`` is given, each round, every word still needed, and
    answers their values (which it is trusted to have checked)."""
    known: dict[int, int] = {}
    for _ in range(MAX_ROUNDS):
        word = _Words(known)
        values = [_decode(loc, word) for loc in locations]
        if not word.needed:
            return values
        needed = sorted(word.needed)
        got = fetch(needed)
        missing = [s for s in needed if s not in got]
        if missing:
            raise MalformedError(f"the storage source answered no value for slot(s) {', '.join(map(hex, missing))}")
        known.update(got)
    raise AssertionError(f"reading {', '.join(loc.name for loc in locations)} took over {MAX_ROUNDS} rounds")


__all__ = ["LayoutError", "Location", "StorageLayout", "Type", "describe", "key_word", "read", "words"]
