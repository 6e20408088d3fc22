#!/usr/bin/env python3
"""The reference server of the conformance suite: Debian's python3-websockets
(10.x) as a plain echo server. Usage: echo_server.py PORT MAX_SIZE

Every message comes back as it came (text as text, binary as binary);
MAX_SIZE is the largest message accepted (the gateway's maxPackageSize in
the suite). No compression, no keepalive pings: nothing but the echo."""
import asyncio
import sys

import websockets


async def echo(ws, _path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(port, max_size):
    async with websockets.serve(echo, "127.0.0.1", port, max_size=max_size,
                                compression=None, ping_interval=None):
        print("reference echo server on 127.0.0.1:%d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
