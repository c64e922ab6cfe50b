"""One stop policy for every command (deployer/stopping.py): SIGTERM or SIGINT, sent at a random
moment to each command that decrypts a file or runs a child, ends it with 143 or 130, its children
stopped, no decrypted file left, no half-written file, and no byte of a planted secret in any
output, file or process.

Real sops + age (the example key), real helm. The cluster is reached through a sops-encrypted
kubeconfig whose API server is a loopback socket that accepts and never answers, so that every
command is waiting on a child or a request when it is stopped; a hub whose remote chart repository
is that socket too makes `render` and deploy's fleet check wait on `helm template`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, require_chart_repo, require_tool
from tests.hanging_server import HangingServer
from tests.repo_builder import make_cluster
from tests.secret_needles import leaks_in

pytestmark = pytest.mark.e2e

AGE_KEY = REPO / "config" / "example-age-key.txt"
TOKEN = "PLANTED-kc-token-" + "7f3a9c21e5b84d06"  # the kubeconfig's credential
PLANTED = {
    "kubeconfig token": TOKEN,
    "both quotes": "PLANTED-k9'Xq\"2v!Zr#8Lm@pW",  # its repr differs from its JSON escape
    "backslash tab": "PLANTED-back\\sl\tash-55e1",
    "unicode": "PLANTED-ünï€-a93c",
}
CASES = [  # (command, uses the local chart repository)
    (("status", "kc"), True),
    (("health", "kc", "staging"), True),
    (("rollback", "kc", "staging"), True),
    (("diff", "kc", "staging"), True),
    (("deploy", "kc", "staging", "--timeout", "60"), True),
    (("use-cluster-credentials", "kc", "--", "sleep", "60"), True),
    (("plan-upgrade", "--against", "cluster", "--cluster", "kc"), True),  # reads the ledger (a thread pool)
    (("render", "kc", "remote"), False),  # helm template waits on the remote chart repository
    (("deploy", "kc", "remote"), False),  # deploy's fleet check waits on it too
]
SIGNALS = (signal.SIGTERM, signal.SIGINT)
SEED = int(os.environ.get("DEPLOYER_STOP_SEED", random.SystemRandom().randrange(10**6)))


def encrypt(path: Path, text: str) -> None:
    recipient = next(ln.split(": ")[1] for ln in AGE_KEY.read_text().splitlines() if "public key" in ln)
    path.write_text(text)
    subprocess.run([str(require_tool("sops")), "--disable-version-check", "encrypt", "--age", recipient, "--in-place",
                    str(path)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    require_tool("helm")
    require_chart_repo()
    work = tmp_path_factory.mktemp("stop")
    with HangingServer() as server:
        root = work / "repo"
        folder = make_cluster(root, "kc", ["staging"], provider="kubeconfig")
        (folder / "cluster.yaml").write_text((folder / "cluster.yaml").read_text().replace(
            "  - staging.values.yaml\n", "  - staging.values.yaml\n  - enc-staging.secret.values.yaml\n") + f"""\
- name: remote
  domain: remote.kc.example.org
  helm_chart:
    name: jupyterhub
    repository: {server.url}/charts
    version: 4.1.0
  helm_chart_values_files:
  - remote.values.yaml
""")
        (folder / "remote.values.yaml").write_text("hub: {}\n")
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "kc",
                      "clusters": [{"name": "kc", "cluster": {"server": server.url, "insecure-skip-tls-verify": True}}],
                      "contexts": [{"name": "kc", "context": {"cluster": "kc", "user": "deployer"}}],
                      "users": [{"name": "deployer", "user": {"token": TOKEN}}]}
        encrypt(folder / "enc-kubeconfig.secret.yaml", json.dumps(kubeconfig))
        env = "".join(f"      PLANTED_{i}: {json.dumps(v, ensure_ascii=False)}\n"
                      for i, v in enumerate(PLANTED.values()))
        encrypt(folder / "enc-staging.secret.values.yaml",
                "jupyterhub:\n  hub:\n    extraEnv:\n" + env +
                f"    config:\n      DummyAuthenticator:\n        password: {json.dumps(PLANTED['both quotes'])}\n")
        yield root, work, server


def processes_with(marker: str) -> list[str]:
    """Processes (but zombies) whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name}: {cmdline}")
        except OSError:
            continue
    return found


def process_texts() -> list[tuple[str, bytes]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            for part in ("cmdline", "environ"):
                try:
                    out.append((f"/proc/{entry.name}/{part}", (entry / part).read_bytes()))
                except OSError:
                    continue
    return out


def stop_at_random_moment(root: Path, work: Path, server: HangingServer, args: tuple[str, ...], with_repo: bool,
                          sig: int, rng: random.Random, waiting: bool) -> dict:
    """`waiting`: the moment is drawn after the command is waiting (a decrypted kubeconfig exists, or
    the API server or chart repository was reached); else from its start."""
    run = uuid.uuid4().hex[:8]
    tmp = work / f"tmp-{run}"
    tmp.mkdir()
    report = work / f"report-{run}.json"
    marker = f"deployer-stop-test-{run}"
    env = {k: v for k, v in os.environ.items() if k not in ("DEPLOYER_CHART_REPO", "SOPS_AGE_KEY")}
    env.update({"TMPDIR": str(tmp), "SOPS_AGE_KEY_FILE": str(AGE_KEY), "DEPLOYER_STOP_TEST": marker,
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    if with_repo:
        env["DEPLOYER_CHART_REPO"] = str(require_chart_repo())
    extra = {"deploy": ("--report-file", str(report)), "plan-upgrade": ("--plan-file", str(report))}.get(args[0], ())
    moment = rng.uniform(0.0, 1.5) if waiting else rng.uniform(0.1, 4.0)
    reached = server.accepted
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "deployer", "--verbose", "--root", str(root), *args, *extra],
                            env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while waiting and not list(tmp.glob("deployer-secret-*")) and server.accepted == reached:
        if time.monotonic() - started > 60 or proc.poll() is not None:
            pytest.fail(f"{' '.join(args)} never got to wait on the cluster: {proc.poll()}")
        time.sleep(0.05)
    time.sleep(moment)
    moment = time.monotonic() - started  # from the start of the command
    held = sorted(p.name for p in tmp.glob("deployer-secret-*"))
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args)}: no exit within 20 s of {signal.Signals(sig).name} (seed {SEED})")
    took = time.monotonic() - sent
    deadline = time.monotonic() + 8  # a child stopped with SIGTERM, then SIGKILL after 5 s at most
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return {"args": args, "signal": sig, "moment": moment, "took": took, "held": held, "code": proc.returncode,
            "out": out, "err": err, "tmp": tmp, "report": report, "left": processes_with(marker)}


def test_every_command_stopped_at_a_random_moment_ends_clean_and_leaks_nothing(fleet):
    root, work, server = fleet
    rng = random.Random(SEED)
    runs = []
    for args, with_repo in CASES:
        waits = rng.choice(SIGNALS)  # one signal is sent once the command waits, the other at any moment
        for sig in SIGNALS:
            runs.append(stop_at_random_moment(root, work, server, args, with_repo, sig, rng, waiting=sig == waits))
    problems, places, scanned = [], [], 0
    for r in runs:
        what = f"{' '.join(r['args'])} stopped by {signal.Signals(r['signal']).name} at {r['moment']:.2f}s (seed {SEED})"
        err = r["err"].decode(errors="replace")
        if r["code"] != 128 + r["signal"]:
            problems.append(f"{what}: exit {r['code']}, not {128 + r['signal']}: {err[-600:]}")
        elif f"interrupted by {signal.Signals(r['signal']).name}" not in err:
            problems.append(f"{what}: does not say it was interrupted: {err[-300:]}")
        if "Traceback" in err:
            problems.append(f"{what}: a traceback: {err[-1500:]}")
        if r["took"] > 5:
            problems.append(f"{what}: took {r['took']:.1f}s to exit")
        left = sorted(p.name for p in r["tmp"].glob("deployer-*"))
        if left:
            problems.append(f"{what}: left {left} in TMPDIR")
        if r["left"]:
            problems.append(f"{what}: left processes running: {r['left']}")
        if r["report"].exists():
            try:
                json.loads(r["report"].read_text())
            except ValueError:
                problems.append(f"{what}: a half-written report")
        places += [(f"{what}: stdout", r["out"]), (f"{what}: stderr", r["err"])]
    for folder in (work, root / ".deployer"):
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.startswith("enc-"):
                places.append((str(path), path.read_bytes()))
    stray = [str(p) for p in work.rglob("*.tmp")] + [str(p) for p in work.rglob("deployer-secret-*")]
    problems += [f"left behind: {p}" for p in stray]
    places += process_texts()
    leaks = []
    for name, data in places:
        scanned += len(data)
        leaks += [f"{found} in {name}" for found in leaks_in(data, PLANTED)]
    held = sum(1 for r in runs if r["held"])
    print(f"seed {SEED}: {len(runs)} commands stopped ({held} while holding a decrypted kubeconfig), exits "
          f"{sorted(r['took'] for r in runs)[-1]:.1f}s at most; scanned {scanned:,} bytes in {len(places)} outputs, "
          f"files and processes: {len(leaks)} leak(s); the API server saw {server.accepted} connection(s)")
    assert problems == [], "\n".join(problems)
    assert leaks == [], "\n".join(leaks[:40])
    decrypting = [args for args, _ in CASES if args[0] != "render" and "remote" not in args]
    assert held >= len(decrypting), "too few commands were stopped while a decrypted kubeconfig existed"
