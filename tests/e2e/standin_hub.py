"""A real HTTP server of ours standing in for a JupyterHub hub process (the local cluster runs no
containers, so nothing else would answer on the hub Service).

It serves the three endpoints `deployer health` uses, as JupyterHub documents them:
  GET /hub/health        -> 200 (empty body)
  GET /hub/api/          -> {"version": "..."}
  GET /hub/api/services  -> {name: {"name": name, ...}} when `token` (query) or
                            `Authorization: token ...` is the accepted token; else 403
Run inside a network namespace: `python standin_hub.py --bind IP --port 8081 --token-file F --services a,b`.
Every request is appended to --log as a JSON line (path, whether a token came with it).
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse


def make_handler(token: str, services: list[str], version: str, log: Path | None):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, payload=None) -> None:
            body = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            given = parse_qs(url.query).get("token", [""])[0]
            header = self.headers.get("Authorization", "")
            if header.lower().startswith("token "):
                given = header[6:].strip()
            if log is not None:
                with open(log, "a") as fh:
                    fh.write(json.dumps({"path": url.path, "token_given": bool(given)}) + "\n")
            if url.path == "/hub/health":
                self._send(200)
            elif url.path in ("/hub/api", "/hub/api/"):
                self._send(200, {"version": version})
            elif url.path == "/hub/api/services":
                if given != token:
                    self._send(403, {"status": 403, "message": "Forbidden"})
                else:
                    self._send(200, {s: {"kind": "service", "name": s} for s in services})
            else:
                self._send(404, {"status": 404, "message": "Not Found"})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--services", default="")
    parser.add_argument("--version", default="5.2.1")
    parser.add_argument("--log")
    args = parser.parse_args()
    token = Path(args.token_file).read_text().strip()
    services = [s for s in args.services.split(",") if s]
    server = ThreadingHTTPServer((args.bind, args.port),
                                 make_handler(token, services, args.version, Path(args.log) if args.log else None))
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
