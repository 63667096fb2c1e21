"""Messages for heights this validator has not reached yet, kept within bounds until it gets there.

A validator that is one block behind receives the next height's messages before it has decided its own; it
keeps them and replays them when it starts that height. Past heights are dropped; so are heights further
ahead than ``ahead`` (that validator is syncing, not voting) and, per author, anything beyond ``per_author``
messages, so no validator, faulty or not, can make another hold more than ``per_author × validators``.
"""

from __future__ import annotations

from collections import deque

from chain.qbft.messages import Message


class FutureMessages:
    def __init__(self, *, ahead: int = 10, per_author: int = 256) -> None:
        self.ahead = ahead
        self.per_author = per_author
        self.dropped = 0
        self._by_author: dict[bytes, deque[Message]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q in self._by_author.values())

    def keep(self, message: Message, current: int) -> bool:
        """Keep ``message`` if it is for a height after ``current`` and within bounds."""
        if not current < message.height <= current + self.ahead:
            self.dropped += 1
            return False
        queue = self._by_author.setdefault(message.author, deque())
        if len(queue) >= self.per_author:
            self.dropped += 1
            return False
        queue.append(message)
        return True

    def take(self, height: int) -> list[Message]:
        """The messages kept for ``height``, in the order they came per author; older heights are dropped."""
        out: list[Message] = []
        for author in list(self._by_author):
            queue = self._by_author[author]
            kept = deque(msg for msg in queue if msg.height > height)
            out.extend(msg for msg in queue if msg.height == height)
            self.dropped += sum(1 for msg in queue if msg.height < height)
            if kept:
                self._by_author[author] = kept
            else:
                del self._by_author[author]
        return out
