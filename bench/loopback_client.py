"""A lean HTTP/1.1 client for load generation on loopback.

The load generator shares the two cores with the server it measures, so its own CPU cost
comes off the server's: httpx spent ~1.7 ms of CPU per request here, this ~0.3 ms. It does
just what the benchmarks need: POST a prepared body (or any method, ``request``), read the
status and the body (Content-Length), reuse the connection unless the server closes it.
"""

from __future__ import annotations

import asyncio


class ServerClosed(ConnectionError):
    """The server closed a kept-alive connection before answering (retry on a new one)."""


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the status code; reconnects once when a kept-alive connection went stale."""
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        """Any method; the status code (the body is read and dropped). Reconnects once like post."""
        reused = self._writer is not None
        try:
            return await self._request(method, path, body, headers)
        except (ServerClosed, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            return await self._request(method, path, body, headers)

    async def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                           f"Content-Length: {len(body)}\r\n{head}\r\n".encode() + body)
        status_line = await self._reader.readline()
        if not status_line:
            raise ServerClosed
        status = int(status_line.split()[1])
        length, keep = 0, True
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value == "close":
                keep = False
        if length:
            await self._reader.readexactly(length)
        if not keep:
            self.close()
        return status

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """Connections handed out one request at a time; grows on demand."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._idle: list[Connection] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        conn = self._idle.pop() if self._idle else Connection(self.host, self.port)
        try:
            status = await conn.request(method, path, body, headers)
        except BaseException:
            conn.close()
            raise
        self._idle.append(conn)
        return status

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
