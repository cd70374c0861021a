#!/usr/bin/env python3
"""bench/latency-proxy.py: a TCP proxy that adds a fixed delay to every request, to measure
lifeboat against an S3 server at real-world latency (bench/latency.sh).

    latency-proxy.py LISTEN_PORT TARGET_PORT DELAY_MS

Each burst of bytes the client sends (one HTTP request: lifeboat's GETs and listings fit in
one read) waits DELAY_MS before it is forwarded; replies pass straight through. Connections
are independent, so N requests in flight on N connections overlap as they would against S3.
Prints the number of delayed requests to stderr on SIGTERM/SIGINT.
"""
import asyncio
import signal
import sys

requests = 0


async def pipe(reader, writer, delay):
    global requests
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if delay:
                requests += 1
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = delay_ms / 1000.0

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            pipe(client_r, server_w, delay), pipe(server_r, client_w, 0)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(f"latency-proxy: {requests} requests delayed {delay_ms} ms", file=sys.stderr)


asyncio.run(main())
