"""`serve` sends a response's head and body in one write (api/http_writes.py): what one turn of the
event loop writes goes out together right after it, nothing is lost on close, and real clients over
a real socket see every response whole (keep-alive, pipelining, Connection: close, a large body)."""

import asyncio
import http.client
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.http_writes import JoinedWrites
from tests.serving import Server, create_keys


class Recorded:
    """A transport that records what it is asked to do."""

    def __init__(self):
        self.writes, self.closed = [], False

    def write(self, data):
        assert not self.closed
        self.writes.append(data)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 8000) if name == "sockname" else default


def test_the_writes_of_one_turn_go_out_together_after_it():
    async def scenario():
        recorded = Recorded()
        joined = JoinedWrites(recorded, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"body")
        assert recorded.writes == []
        await asyncio.sleep(0)
        assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        joined.write(b"next")
        await asyncio.sleep(0)
        assert recorded.writes[1:] == [b"next"]
        joined.write(b"last words")
        joined.close()  # what is kept goes out before the close
        assert recorded.writes[2:] == [b"last words"] and recorded.closed
        await asyncio.sleep(0)
        assert len(recorded.writes) == 3
        assert joined.get_extra_info("sockname") == ("127.0.0.1", 8000)  # the rest is the transport's

    with ThreadPoolExecutor(1) as thread:  # a loop of its own: a browser test's may be running in this thread
        thread.submit(asyncio.run, scenario()).result()


@pytest.fixture
def served(sqlite_url):
    keys = create_keys(sqlite_url)
    with Server(sqlite_url) as server:
        yield server, keys


def test_real_clients_get_every_response_whole(served):
    server, keys = served
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):  # keep-alive: one connection, one response after another
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read().startswith(b"{")
    connection.request("GET", "/openapi.json")  # a large body
    answer = connection.getresponse()
    body = answer.read()
    assert answer.status == 200 and len(body) == int(answer.headers["content-length"]) > 100_000
    connection.request("GET", "/v1/accounts/nope", headers={"Authorization": f"Bearer {keys['mall']}", "Connection": "close"})
    answer = connection.getresponse()
    assert answer.status in (404, 422) and answer.read() and answer.headers["content-type"] == "application/problem+json"
    connection.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:  # two requests pipelined
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
