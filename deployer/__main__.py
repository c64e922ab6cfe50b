"""`python -m deployer` and the `deployer` command.

A SIGINT or SIGTERM that comes while the program is still loading (importing the commands takes a
moment) ends it at once, with the exit code of the stop policy: nothing has started yet, so there is
nothing to stop or remove. From the moment a command runs, deployer/stopping.py takes over.
"""

from __future__ import annotations

import os
import signal


def _stopped_while_loading(signum: int, frame: object) -> None:
    os.write(2, f"interrupted by {signal.Signals(signum).name}\n".encode())
    os._exit(128 + signum)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped_while_loading)
    from deployer.cli import main as run

    run()


if __name__ == "__main__":
    main()
