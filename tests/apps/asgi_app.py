"""asgi_app.py: the ASGI application for running uvicorn (Debian's 0.17.6) under `herdless
run`: every request gets 200 with the body `worker=<HERDLESS_WORKER> pid=<pid>\\n`. A
request to the path /slow first burns 50 ms of CPU on the event loop (a busy loop, not a
sleep), blocking every other connection of this process meanwhile: the "event loop
blocked" benchmark sends a few of those among fast requests to / (any other path).

  herdless run ... -- /usr/bin/python3 -m uvicorn --fd 3 --app-dir tests/apps asgi_app:app
"""
import os
import time

SLOW_SECONDS = 0.050


def _body():
    return ("worker=%s pid=%d\n" % (os.environ.get("HERDLESS_WORKER", "?"), os.getpid())).encode()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        end = time.perf_counter() + SLOW_SECONDS
        while time.perf_counter() < end:  # hold the event loop, as CPU-bound handler code would
            pass
    body = _body()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
