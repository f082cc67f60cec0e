"""A TCP proxy on loopback that adds a fixed delay to every chunk in each direction (a round
trip of 2 x delay, bandwidth untouched), for the remote-read benchmark. Bounded: it serves only
127.0.0.1, stops by itself after --max-seconds, and counts connections and bytes (printed on
exit, and to --stats when given).

usage: latency_proxy.py --listen PORT --target PORT --delay-ms MS [--max-seconds S] [--stats F]
"""

import argparse
import asyncio
import json
import signal
import time

STATS = {"connections": 0, "bytes_up": 0, "bytes_down": 0}


async def pump(reader, writer, delay, counter):
    # Chunks are held `delay` seconds each, in order, without serialising their delays: a
    # queue of (due time, data) drained by a writer task.
    queue = asyncio.Queue()

    async def drain():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(drain())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            STATS[counter] += len(data)
            queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, asyncio.CancelledError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except ConnectionError:
        pass


async def handle(client_reader, client_writer, target, delay):
    STATS["connections"] += 1
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pump(client_reader, server_writer, delay, "bytes_up"),
                         pump(server_reader, client_writer, delay, "bytes_down"))


async def main(args):
    delay = args.delay_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: handle(r, w, args.target, delay),
                                        "127.0.0.1", args.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--stats")
    a = p.parse_args()
    asyncio.run(main(a))
    if a.stats:
        with open(a.stats, "w") as f:
            json.dump(STATS, f)
    print(json.dumps(STATS), flush=True)
