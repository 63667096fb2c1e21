"""chain.node.rpc.envelope: a poll of ``eth_blockNumber`` or ``eth_chainId`` in a plain form is answered without
the JSON parser, with the very bytes the parsed path gives; any other body goes through the parser."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import ChainError
from chain.node.rpc import envelope
from chain.node.rpc.envelope import MethodTable, answer_body, answer_parsed


def _failing() -> str:
    raise ChainError("no head yet")


METHODS: MethodTable = {
    "eth_blockNumber": (lambda: "0x2a", 0, 0),
    "eth_chainId": (_failing, 0, 0),
    "eth_gasPrice": (lambda: "0x0", 0, 0),
}


def test_a_plain_poll_is_answered_without_the_parser_as_the_parser_answers_it() -> None:
    calls: list[bytes] = []
    parsed = envelope.answer_parsed

    def counted(body: bytes, methods: MethodTable) -> bytes | None:
        calls.append(body)
        return parsed(body, methods)

    envelope.answer_parsed = counted
    try:
        poll = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": []}).encode()
        assert answer_body(poll, METHODS) == b'{"jsonrpc":"2.0","id":7,"result":"0x2a"}' == parsed(poll, METHODS)
        assert calls == []
        other = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "eth_gasPrice", "params": []}).encode()
        assert answer_body(other, METHODS) == parsed(other, METHODS)
        assert calls == [other]
    finally:
        envelope.answer_parsed = parsed


SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n", "\x0b", "\xa0"])
ID = st.integers(-5, 10**17).map(str) | st.sampled_from(['"a-1"', '"x.y:z"', '""', '"\\u0041"', "null", "1.0", "01"])
METHOD = st.sampled_from(["eth_blockNumber", "eth_chainId", "eth_gasPrice", "eth_nothing", "eth_blockNumbe"])
PARAMS = st.sampled_from(["[]", "[ ]", "[1]", "{}", "null"])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_body_near_a_poll_is_answered_as_the_parser_answers_it(data: st.DataObject) -> None:
    members = [
        ('"jsonrpc"', data.draw(st.sampled_from(['"2.0"', '"2.00"', "2.0"]))),
        ('"id"', data.draw(ID)),
        ('"method"', f'"{data.draw(METHOD)}"'),
        ('"params"', data.draw(PARAMS)),
    ]
    order = data.draw(st.sampled_from([(0, 1, 2, 3), (0, 2, 3, 1)]) | st.permutations(range(4)))
    members = [members[k] for k in order]  # the two plain forms, or any order
    if data.draw(st.booleans()):
        members = members[:-1]

    def s() -> str:
        return str(data.draw(SPACE))

    body = (s() + "{" + ",".join(f"{s()}{k}{s()}:{s()}{v}{s()}" for k, v in members) + "}" + s()).encode()
    assert answer_body(body, METHODS) == answer_parsed(body, METHODS)


NEAR = [
    '{"jsonrpc":"2.0","id":01,"method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.0","id":1.0,"method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.0","id":-1,"method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.0","id":null,"method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.0","id":"\\u0041","method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.00","id":1,"method":"eth_blockNumber","params":[]}',
    '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[1]}',
    '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]\x0b}',
    '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[],"id":2}',
    '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
    '{"jsonrpc":"2.0","method":"eth_chainId","params":[],"id":"x"}',
    '{"jsonrpc":"2.0","id":12345678901234567,"method":"eth_blockNumber","params":[]}',
]


def test_bodies_near_a_plain_poll_are_answered_as_the_parser_answers_them() -> None:
    for body in NEAR:
        assert answer_body(body.encode(), METHODS) == answer_parsed(body.encode(), METHODS), body
