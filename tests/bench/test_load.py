"""The load generator against a server that closes idle keep-alive connections."""

import asyncio
import threading

from alloy.bench.load import Request, load_run

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class IdleClosingServer:
    """Respond to each request, then close a connection idle for ``idle`` seconds."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            while True:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(RESPONSE)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_load_reconnects_after_idle_close():
    server = IdleClosingServer(idle=0.1)
    requests = [
        Request(path="/", headers={}, body=b"{}", marker=f"alloy-bench-t-{n}")
        for n in range(4)
    ]
    try:
        samples = load_run(
            host="127.0.0.1",
            port=server.port,
            requests=requests,
            concurrency=1,
            rate=4.0,
        )
    finally:
        server.stop()
    assert [sample.status for sample in samples] == [200, 200, 200, 200]
    assert server.connections == 4
