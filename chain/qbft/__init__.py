"""QBFT consensus among the consortium's validators: the pure core, without I/O.

- :mod:`chain.qbft.extradata`: Besu's QBFT header extra data ``RLP([vanity, validators, vote, round, seals])``;
- :mod:`chain.qbft.block`: a block's on-chain hash (round and seals left out), the commit digest a validator
  seals (round in, seals out), re-rounding and sealing a block, recovering its committers;
- :mod:`chain.qbft.rules`: quorum, fault bound, proposer rotation and the round timer;
- :mod:`chain.qbft.messages`: the four signed messages (PROPOSAL, PREPARE, COMMIT, ROUND-CHANGE) in Besu's wire
  encoding, their authors recovered from their signatures;
- :mod:`chain.qbft.machine`: one validator's state machine for one height, fed messages and the time, answering
  with messages to broadcast and the block it decided;
- :mod:`chain.qbft.evidence`: evidence of a validator that signed two conflicting messages, detected within
  bounds and checked offline.

The node supplies what depends on execution (is a block valid, build one for a round); everything here is a
function of its inputs, so the tests drive whole networks of these machines in one process with a delivery
schedule they control. See ``docs/consensus.md``.
"""
