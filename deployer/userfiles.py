"""Files a user names on the command line (`--plan`, `--reports`, `--report-file`, `--markdown`,
`--plan-file`, ...): read and written with every failure a clear DeployerError naming the option
and the file, never a traceback (missing, a folder, unreadable, too long a name, not UTF-8, not
JSON, nested too deep, too large)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any, Optional

from deployer.errors import DeployerError

MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64  # plans and reports are shallow; deeper nesting is not ours


class UserFileError(DeployerError):
    """A file named on the command line cannot be read or written (exit 1)."""


def _os_reason(e: OSError) -> str:
    if e.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    if e.errno == errno.ENOENT:
        return "no such file or folder"
    if e.errno == errno.EISDIR:
        return "it is a folder, not a file"
    if e.errno == errno.ENOTDIR:
        return "a part of the path is not a folder"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if e.errno == errno.EROFS:
        return "read-only file system"
    if e.errno == errno.ELOOP:
        return "a symbolic link loop"
    if e.errno in (errno.ENXIO, errno.EAGAIN):  # a FIFO or socket with nobody at the other end
        return "not a regular file"
    return e.strerror or type(e).__name__


def read_text(path: Path, option: str, *, max_bytes: int = MAX_JSON_BYTES) -> str:
    """The file's text (UTF-8). Only a regular file is read: a FIFO, a device or a socket is
    refused before anything waits on it (opened without blocking, its type checked first)."""
    try:
        if path.is_dir():
            raise UserFileError(f"{option} {path}: it is a folder, not a file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            kind = _special_kind(os.fstat(fd).st_mode)
            if kind:
                raise UserFileError(f"{option} {_short(path)}: not a regular file ({kind}); name a file")
            raw = fh.read(max_bytes + 1)
    except OSError as e:
        raise UserFileError(f"{option} {_short(path)}: cannot read it: {_os_reason(e)}") from e
    except ValueError as e:  # a NUL byte in the path
        raise UserFileError(f"{option}: not a usable path ({e})") from e
    if len(raw) > max_bytes:
        raise UserFileError(f"{option} {path}: larger than {max_bytes // (1024 * 1024)} MiB; not a file deployer wrote")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserFileError(f"{option} {path}: not UTF-8 text (byte {e.start}); is it a binary file?") from e


def _special_kind(mode: int) -> str:
    """What a file that is not a regular one is ("" for a regular file)."""
    if stat.S_ISREG(mode):
        return ""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def read_json(path: Path, option: str, what: str) -> Any:
    """Parsed JSON of a file; `what` names what it should be (for the message)."""
    text = read_text(path, option)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserFileError(f"{option} {path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                            hint=f"expected {what}") from e
    except RecursionError as e:
        raise UserFileError(f"{option} {path}: JSON nested too deeply", hint=f"expected {what}") from e
    if _depth(data) > MAX_DEPTH:
        raise UserFileError(f"{option} {path}: JSON nested deeper than {MAX_DEPTH} levels", hint=f"expected {what}")
    return data


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def check_writable(path: Path, option: str) -> None:
    """Before any work: `path` could be written (its folder exists or can be made, it is not a
    folder, its name is not too long). Nothing is created here."""
    try:
        if path.is_dir():
            raise UserFileError(f"{option} {path}: it is a folder; name a file")
        name_max = os.pathconf(_existing_parent(path), "PC_NAME_MAX")
        if len(path.name.encode()) > name_max:
            raise UserFileError(f"{option} {_short(path)}: the file name is too long ({len(path.name.encode())} bytes, "
                                f"at most {name_max})")
    except OSError as e:
        raise UserFileError(f"{option} {_short(path)}: cannot write there: {_os_reason(e)}") from e
    except ValueError as e:
        raise UserFileError(f"{option}: not a usable path ({e})") from e


def _existing_parent(path: Path) -> Path:
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserFileError(f"{parent} is not a folder")
    return parent


def write_text(path: Path, text: str, option: str, *, make_parents: bool = False) -> None:
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise UserFileError(f"{option} {_short(path)}: cannot write it: the folder {path.parent} does not exist",
                                hint="create the folder first, or name a file in an existing folder")
        _write_whole(path, text.encode("utf-8"))
    except OSError as e:
        raise UserFileError(f"{option} {_short(path)}: cannot write it: {_os_reason(e)}") from e
    except ValueError as e:
        raise UserFileError(f"{option}: not a usable path ({e})") from e


def _write_whole(path: Path, data: bytes) -> None:
    """Never a half-written file, even when the command is stopped: written beside it, then renamed
    over it (a file that exists keeps its mode; a symlink's target is the file written). A target that
    is not a regular file (/dev/stdout, a pipe) is written to as it is."""
    import contextlib
    import stat
    import tempfile

    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    else:
        if not stat.S_ISREG(st.st_mode):
            with open(real, "wb") as fh:
                fh.write(data)
            return
        mode = st.st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:100]}.", suffix=".tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


NAME_MAX = 255  # bytes in one file name, on Linux's file systems
PATH_MAX = 4096  # bytes in a whole path


def path_problem(path: Path | str) -> Optional[str]:
    """Why `path` cannot name a file or folder here (None when it can): a NUL byte, a name or
    the whole path too long, a part of it that is a file. Nothing is created or followed beyond
    the first part that exists."""
    text = str(path)
    if "\0" in text:
        return "it holds a NUL byte"
    if len(os.fsencode(text)) >= PATH_MAX:
        return f"the path is too long ({len(os.fsencode(text))} bytes, at most {PATH_MAX - 1})"
    for part in Path(text).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            return f"a name in it is too long ({len(os.fsencode(part))} bytes, at most {NAME_MAX}): {_short(Path(part), 60)}"
    try:
        parent = Path(text).absolute()
        while not os.path.lexists(parent) and parent != parent.parent:
            parent = parent.parent
        if parent != Path(text).absolute() and not parent.is_dir():
            return f"{_short(parent)} is a file, not a folder"
    except OSError as e:
        return _os_reason(e)
    return None


def short_path(path: Path, limit: int = 120) -> str:
    """A path for a message: a very long one shows its start and its end."""
    return _short(path, limit)


def _short(path: Path, limit: int = 120) -> str:
    text = str(path)
    return text if len(text) <= limit else text[:limit // 2] + "…" + text[-limit // 2:]


def first_problem(error: Any, prefix: Optional[str] = None) -> str:
    """One line for a pydantic ValidationError: the key (path) and what is wrong with it."""
    issues = error.errors()
    if not issues:
        return str(error).splitlines()[0]
    order = {"extra_forbidden": 0, "missing": 1}  # a stray key explains the rest best: name it first
    issues = sorted(issues, key=lambda i: order.get(i.get("type", ""), 2))
    first = issues[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "(top level)"
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        text = f"unknown key `{where}`"
    elif kind == "missing":
        text = f"missing key `{where}`"
    else:
        text = f"`{where}`: {first.get('msg', 'invalid')}"
    more = f" (and {len(issues) - 1} more problem(s))" if len(issues) > 1 else ""
    return (f"{prefix}: " if prefix else "") + text + more


def is_folder(path: Path) -> bool:
    """`path.is_dir()` that says False (not an OSError) for a name too long or a NUL byte."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """`path.is_file()` that says False (not an OSError) for a name too long or a NUL byte."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
