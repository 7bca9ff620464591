"""Servers: the SimPy Resource that reps' meetings and the vendor's support desk queue at.

A FIFO `simpy.Resource` specialised for the model's commonest events. A request is granted
at once when a server is free, else it waits in line; a release hands the server straight
to the first request waiting. That costs at most one event per use, where the generic
Resource schedules a Request and a Release event through its put/get trigger loops, and a
meeting, whose length is known when it is asked for, is one event in all (`hold`). The
number of servers can change while requests wait or are served (`resize`): the support
desk's staff follows the policy and is cut by reviews; a smaller staff takes effect as the
answers in progress end.
"""

from __future__ import annotations

import simpy
from simpy.events import PENDING
from simpy.resources.resource import Request


class Slot(Request):
    """A request for one server; use it in a `with` block, as simpy's Request.

    A plain request (`hold_days` None) triggers when a server is granted, and when one is
    free it is granted and processed at once, so `yield slot` goes straight on. A hold
    (`Servers.hold`) triggers `hold_days` after it is granted instead: one event for a use
    of known length, which ends when the `with` block does.
    """

    def __init__(self, servers: Servers, hold_days: float | None = None) -> None:
        # Put.__init__'s generic trigger loop becomes one check: there is one line.
        env = servers._env
        self.env = env
        self.resource = servers
        self.proc = env._active_proc
        self.hold_days = hold_days
        if len(servers.users) < servers._capacity:
            if hold_days is None:
                servers.users.append(self)
                self.usage_since = env._now
                self._ok = True
                self._value = None
                self.callbacks = None
                return
            self.callbacks = []
            servers.grant(self)
        else:
            self.callbacks = []
            self._value = PENDING
            servers.put_queue.append(self)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is GeneratorExit:  # generator cleanup: as simpy's Request, no release
            return
        if self._value is PENDING:
            self.resource.put_queue.remove(self)
        else:
            self.resource.free(self)


class Servers(simpy.Resource):
    """A FIFO SimPy Resource with a direct hand-over on release and a resizable capacity.

    `users`, `queue`, `count`, `capacity` and `release()` behave as in `simpy.Resource`.
    """

    def request(self) -> Slot:
        return Slot(self)

    def hold(self, days: float) -> Slot:
        """A request that triggers `days` after a server is granted to it."""
        return Slot(self, days)

    def grant(self, slot: Slot) -> None:
        env = self._env
        self.users.append(slot)
        slot.usage_since = env._now
        slot._ok = True  # what Event.succeed() does, without its checks: the slot is new
        slot._value = None
        env.schedule(slot, delay=slot.hold_days or 0.0)

    def _do_put(self, slot: Slot) -> None:
        """simpy's grant, used by `release()`: a hold ends `hold_days` after it."""
        if len(self.users) < self._capacity:
            self.grant(slot)

    def free(self, slot: Request) -> None:
        """End a use: the server goes to the first request waiting, if the capacity allows."""
        self.users.remove(slot)
        if self.put_queue:
            self._serve_waiting()

    def resize(self, capacity: int) -> None:
        """Change the number of servers; uses in progress beyond it end as they would."""
        if capacity <= 0:
            raise ValueError('"capacity" must be > 0.')
        self._capacity = capacity
        self._serve_waiting()

    def _serve_waiting(self) -> None:
        queue = self.put_queue
        while queue and len(self.users) < self._capacity:
            self.grant(queue.pop(0))
