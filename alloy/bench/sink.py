"""The sink: an HTTP server that records when each delivery arrives.

Run as its own process (``python -m alloy.bench.sink --port N``) so its CPU
time is not charged to the system under test. A POST to any path gets a 200
at once, and the first ``alloy-bench-<id>`` marker in its body names the
event it belongs to. ``GET /arrivals`` returns ``[[marker, unix time], ...]``
for every POST so far, and ``DELETE /arrivals`` forgets them.
"""

import argparse
import asyncio
import json
import re
import time

MARKER = re.compile(rb"alloy-bench-[A-Za-z0-9]+-\d+")
MAX_HEADER_BYTES = 65536


class Sink:
    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []

    async def serve(self, reader, writer) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, body, close = request
                arrived = time.time()
                status, answer = self._answer(method, path, body, arrived)
                writer.write(_response(status, answer, close))
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    def _answer(self, method: str, path: str, body: bytes, arrived: float):
        if method == "POST":
            match = MARKER.search(body)
            self.arrivals.append((match.group().decode() if match else "", arrived))
            return 200, b'{"ok":true}'
        if path == "/arrivals" and method == "GET":
            return 200, json.dumps(self.arrivals).encode()
        if path == "/arrivals" and method == "DELETE":
            self.arrivals = []
            return 200, b"[]"
        if method == "GET":
            return 200, b'{"status":"ok"}'
        return 405, b'{"error":"method not allowed"}'


async def _read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ValueError("request head too large")
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length") or 0))
    connection = headers.get("connection", "").lower()
    close = connection == "close" or (
        version == "HTTP/1.0" and connection != "keep-alive"
    )
    return method, path, body, close


async def _read_chunked(reader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: "OK", 405: "Method Not Allowed"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


async def _main(host: str, port: int) -> None:
    sink = Sink()
    server = await asyncio.start_server(sink.serve, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    asyncio.run(_main(options.host, options.port))


if __name__ == "__main__":
    main()
