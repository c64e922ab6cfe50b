"""The pod sandbox ("pause") image, built here: a static C program that sleeps until it is told to
stop and reaps orphaned children, compiled with `gcc -Os -static` (about 700 KB), in a one-layer
docker archive cached in the per-user cache."""

from __future__ import annotations

import tempfile
from pathlib import Path

from deployer import paths
from deployer.adapters.process import ProcessRunner
from deployer.errors import ToolError
from deployer.local.oci import File, write_docker_archive
from deployer.local.spec import PAUSE_IMAGE

PAUSE_C = r"""
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction s = {0};
    s.sa_handler = stop;
    sigaction(SIGINT, &s, NULL);
    sigaction(SIGTERM, &s, NULL);
    struct sigaction c = {0};
    c.sa_handler = reap;
    c.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &c, NULL);
    for (;;) pause();
    return 1;
}
"""


def pause_archive(env=None) -> Path:
    tag = PAUSE_IMAGE.rsplit(":", 1)[1]
    return paths.cache_dir(env) / "images" / f"pause-{tag}.tar"


def ensure_pause_image(runner: ProcessRunner | None = None, *, cc: str = "gcc", env=None) -> Path:
    """The pause image's docker archive, built once."""
    out = pause_archive(env)
    if out.is_file():
        return out
    runner = runner or ProcessRunner()
    with tempfile.TemporaryDirectory(prefix="deployer-pause-") as tmp:
        src, binary = Path(tmp) / "pause.c", Path(tmp) / "pause"
        src.write_text(PAUSE_C)
        r = runner.run([cc, "-Os", "-static", "-o", str(binary), str(src)], timeout=120)
        if not r.ok:
            raise ToolError(f"compiling the pause program failed: {r.stderr.strip()[-300:]}",
                            hint="install gcc and libc6-dev (static libc) from Debian")
        runner.run(["strip", str(binary)], timeout=60)
        files = [File("/pause", binary.read_bytes(), mode=0o755)]
    return write_docker_archive(out, PAUSE_IMAGE, files, entrypoint=["/pause"], user="65535:65535")
