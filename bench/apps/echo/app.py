"""The smallest upstream Porch can run: a bare ASGI app (no framework) under uvicorn.

Used by bench/interactive.sh so that the proxy, not the app, is what is measured:
- GET .../ping  -> 200 "pong" (text/plain, 4 bytes)
- WS  .../ws    -> echoes every text message back unchanged
Anything else is a 404. Paths are matched on their end so the app answers the same
with or without the mount prefix (uvicorn may prepend root_path to scope["path"]).
"""

PONG = [(b"content-type", b"text/plain"), (b"content-length", b"4")]
NOT_FOUND = [(b"content-type", b"text/plain"), (b"content-length", b"9")]


async def app(scope, receive, send):
    kind = scope["type"]
    path = scope.get("path", "")
    if kind == "http":
        if path.endswith("/ping"):
            await send({"type": "http.response.start", "status": 200, "headers": PONG})
            await send({"type": "http.response.body", "body": b"pong"})
        else:
            await send({"type": "http.response.start", "status": 404, "headers": NOT_FOUND})
            await send({"type": "http.response.body", "body": b"not found"})
    elif kind == "websocket":
        message = await receive()  # websocket.connect
        if not path.endswith("/ws"):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
