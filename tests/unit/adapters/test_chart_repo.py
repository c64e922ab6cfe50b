"""The local chart repository's HTTP server (adapters/chart_repo.py): a client that goes away in the
middle of a download (helm stopped by a signal) leaves no traceback on stderr."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

from deployer.adapters.chart_repo import ChartRepository


def test_a_client_that_goes_away_mid_download_leaves_no_traceback(tmp_path, capfd):
    (tmp_path / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    (tmp_path / "big-0.1.0.tgz").write_bytes(b"x" * 20_000_000)
    with ChartRepository(tmp_path).serve() as url:
        address = urlparse(url)
        for _ in range(3):
            with socket.create_connection((address.hostname, address.port)) as conn:
                conn.sendall(b"GET /big-0.1.0.tgz HTTP/1.1\r\nHost: x\r\n\r\n")
                conn.recv(100)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        time.sleep(0.5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred during processing" not in err, err
