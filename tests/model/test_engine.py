"""The engine module: Servers (the FIFO Resource of meetings and the desk) and the SimPy
internals it relies on; these tests fail loudly if a SimPy upgrade changes them."""

from __future__ import annotations

import simpy

from sim.engine import Servers, processed


def uses(*, hold: bool, capacity: int = 1):
    """(name, asked, started, ended) of five uses asked at 0, 0, 1, 1 and 9 days."""
    env = simpy.Environment()
    servers = Servers(env, capacity=capacity)
    log: list[tuple[str, float, float, float]] = []

    def using(name, at, days):
        yield env.timeout(at)
        asked = env.now
        if hold:
            yield servers.hold(days)  # ends by itself
            log.append((name, asked, env.now - days, env.now))
            return
        with servers.request() as use:
            yield use
            started = env.now
            yield env.timeout(days)
        log.append((name, asked, started, env.now))

    for name, at, days in (("a", 0, 3), ("b", 0, 2), ("c", 1, 1), ("d", 1, 4), ("e", 9, 1)):
        env.process(using(name, at, days))
    env.run()
    return sorted(log), servers


def test_one_server_serves_in_order_of_asking_with_holds_and_requests_alike():
    expected = [
        ("a", 0, 0, 3),
        ("b", 0, 3, 5),
        ("c", 1, 5, 6),
        ("d", 1, 6, 10),
        ("e", 9, 10, 11),
    ]
    for hold in (True, False):
        log, servers = uses(hold=hold)
        assert log == expected
        assert servers.count == 0 and not servers.queue


def test_two_servers_serve_two_at_once():
    log, _ = uses(hold=True, capacity=2)
    assert log == [
        ("a", 0, 0, 3),
        ("b", 0, 0, 2),
        ("c", 1, 2, 3),
        ("d", 1, 3, 7),
        ("e", 9, 9, 10),
    ]


def test_a_hold_is_one_event_and_a_free_request_none():
    env = simpy.Environment()
    servers = Servers(env, capacity=1)
    held = servers.hold(2.0)
    assert servers.count == 1 and len(env._queue) == 1  # scheduled to end in 2 days
    free_request = Servers(env, capacity=1).request()
    assert free_request.processed and free_request.ok  # granted at once, no event
    assert processed(env).processed and len(env._queue) == 1
    env.run()
    assert env.now == 2.0 and held.processed and servers.count == 0


def test_a_smaller_staff_takes_effect_as_uses_end():
    env = simpy.Environment()
    servers = Servers(env, capacity=2)
    first, second = servers.hold(5.0), servers.hold(4.0)
    waiting = servers.hold(1.0)
    servers.resize(1)
    assert servers.users == [first, second] and servers.queue == [waiting]
    env.run(until=4.5)
    assert servers.users == [first] and servers.queue == [waiting]  # one server, busy
    env.run()
    assert env.now == 6.0 and waiting.processed and servers.count == 0


def test_simpy_release_ends_a_request():
    env = simpy.Environment()
    servers = Servers(env, capacity=1)
    first = servers.request()
    waiting = servers.hold(1.0)
    env.run(until=2.0)
    servers.release(first)  # simpy's release: the server goes back when it is processed
    env.run()
    assert env.now == 3.0 and waiting.processed and servers.count == 0
