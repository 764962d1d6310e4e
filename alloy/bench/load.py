"""The load generator: HTTP/1.1 POSTs over keep-alive connections with asyncio.

Closed loop (``rate`` None): ``concurrency`` clients each send their next
request as soon as the response to the previous one arrives. Open loop (``rate`` set):
request ``i`` is due ``i / rate`` seconds after the start, and at most
``concurrency`` are in flight; a request that waits for a free client is
sent late, and its send time is when it left, not when it was due.
"""

import asyncio
import time
from dataclasses import dataclass

# Seconds a request may take before it counts as failed.
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    # The marker the sink finds in the delivery this request causes.
    marker: str


@dataclass(frozen=True)
class Sample:
    marker: str
    sent_at: float
    answered_at: float
    status: int
    error: str = ""


async def _send(reader, writer, host: str, port: int, request: Request):
    head = [f"POST {request.path} HTTP/1.1", f"Host: {host}:{port}"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    head += [f"Content-Length: {len(request.body)}", "Connection: keep-alive"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + request.body)
    await writer.drain()
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers = {}
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length") or 0))
    return status, headers.get("connection") == "close"


async def _client(host, port, next_request, samples: list[Sample]) -> None:
    reader = writer = None
    try:
        while (item := next_request()) is not None:
            due, request = item
            if due is not None:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if writer is not None and (reader.at_eof() or writer.is_closing()):
                # The server closed the idle keep-alive connection (gunicorn
                # after its keepalive seconds); a new request needs a new one.
                writer.close()
                reader = writer = None
            sent = time.time()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                status, close = await asyncio.wait_for(
                    _send(reader, writer, host, port, request), REQUEST_TIMEOUT
                )
                samples.append(Sample(request.marker, sent, time.time(), status))
            except (
                OSError,
                asyncio.IncompleteReadError,
                TimeoutError,
                ValueError,
            ) as exc:
                samples.append(
                    Sample(request.marker, sent, time.time(), 0, type(exc).__name__)
                )
                close = True
            if close and writer is not None:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def load_run(
    *,
    host: str,
    port: int,
    requests: list[Request],
    concurrency: int,
    rate: float | None = None,
) -> list[Sample]:
    """Send every request and return one sample each, in the order of the responses."""
    samples: list[Sample] = []
    pending = iter(enumerate(requests))

    async def main() -> None:
        started = time.monotonic()

        def next_request():
            item = next(pending, None)
            if item is None:
                return None
            index, request = item
            due = None if rate is None else started + index / rate
            return due, request

        await asyncio.gather(
            *(_client(host, port, next_request, samples) for _ in range(concurrency))
        )

    asyncio.run(main())
    return samples
