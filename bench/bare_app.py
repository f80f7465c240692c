"""The baseline for bench/cart_ingest.py: a trivial Flask app served by gunicorn exactly like the real one.

``PUT /bare/<token>`` parses the JSON body and answers ``{"ok": true}``; ``/healthz`` tells the benchmark it is up.
"""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.put("/bare/<token>")
def put_bare(token: str):
    request.get_json()
    return jsonify(ok=True)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
