"""A plain FastAPI app with one unguarded route returning a constant, a peer in bench/http.

The ceiling of what a guarded route of authgate can reach: the same framework and server
settings as `authgate serve` (uvicorn, one worker, httptools, uvloop, no access log, no
Server header, no proxy headers), and no token, no database, no work at all.

    PORT=8000 python bench/peers/plain_fastapi.py
"""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/constant")
async def constant() -> dict[str, bool]:
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        workers=1,
        http="httptools",
        loop="uvloop",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
