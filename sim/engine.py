"""Engine details: the SimPy internals the model relies on for speed, in one place.

Nothing here is domain logic; `tests/model/test_engine.py` fails loudly if a SimPy upgrade
breaks what this module assumes of SimPy's private fields (`_eid`, `_queue`, `_now`,
`_active_proc`, `_capacity`, `put_queue`, event `_ok`/`_value`/`callbacks`).

Servers: the SimPy Resource that reps' meetings and the vendor's support desk queue at.

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
    """A request for one server.

    A plain request (`Servers.request`, `hold_days` None) is used in a `with` block, as
    simpy's Request: it triggers when a server is granted, and the block's end releases the
    server; when a server is free it is granted and processed at once, so `yield slot` goes
    straight on. A hold (`Servers.hold`) is a whole use of known length: it triggers
    `hold_days` after it is granted and releases its server then, before the process that
    waits on it goes on. One event per use at most.
    """

    def __init__(self, servers: Servers, hold_days: float | None = None) -> None:
        # Put.__init__'s generic trigger loop becomes one check: there is one line.
        env = servers._env
        self.env = env
        self.resource = servers
        self.proc = env._active_proc
        self.hold_days = hold_days
        if hold_days is None:
            if len(servers.users) < servers._capacity:
                servers.users.append(self)
                self.usage_since = env._now
                self._ok = True
                self._value = None
                self.callbacks = None
                return
            self.callbacks = []
        else:
            self.callbacks = [servers.free]  # runs first: the server is free when it ends
        self._value = PENDING
        if len(servers.users) < servers._capacity:
            servers.grant(self)
        else:
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

    `users`, `queue`, `count`, `capacity` and `release()` behave as in `simpy.Resource`;
    `release()` is for a plain request, since a hold releases its server itself.
    """

    def request(self) -> Slot:
        """A server for as long as the `with` block using the request lasts."""
        return Slot(self)

    def hold(self, days: float) -> Slot:
        """A server for `days` from when it is granted: yield it, no `with` block."""
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
        """End a use: the server goes to the first request waiting, if the capacity allows.

        Also a hold's first callback: SimPy calls it with the hold when it triggers.
        """
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


def events_processed(env: simpy.Environment) -> int:
    """SimPy events processed so far: scheduled minus still queued."""
    # simpy numbers every scheduled event with an itertools.count; its repr is "count(N)"
    scheduled = int(repr(env._eid)[6:-1])
    return scheduled - len(env._queue)


def processed(env: simpy.Environment) -> simpy.Event:
    """An event that has already happened: a process yielding it goes straight on."""
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    event.callbacks = None
    return event
