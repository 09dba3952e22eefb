"""The HTTP floor: a bare ASGI app that reads the body and answers a constant JSON document.

Run by ``bench_serve.py`` with the same uvicorn options as ``bcml serve``; nothing a real
prediction service could do is cheaper than this.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"prediction":1,"prediction_label":"Malignant","probability":0.99,"confidence":"high"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the request body, as any real endpoint must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
