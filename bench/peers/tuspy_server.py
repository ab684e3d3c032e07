"""tuspyserver (a FastAPI router) on uvicorn: the Python peer, as its README sets it up."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from tuspyserver import create_tus_router

port, directory = int(sys.argv[1]), sys.argv[2]
app = FastAPI()
app.include_router(create_tus_router(prefix="files", files_dir=directory))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
