"""What every component shares: the host's address, its programs and processes, and the state
folder's private files."""

# ruff: noqa: S603
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
SCRIPT_DIR = Path(__file__).resolve().parent.parent  # deploy/local: the package's data sits beside it
REPO_ROOT = SCRIPT_DIR.parent.parent

STOP_TIMEOUT = 30.0
KILL_TIMEOUT = 10.0
POLL_INTERVAL = 0.25
LOG_TAIL_LINES = 25


class StackError(Exception):
    """A failure to report to the user without a traceback."""


def env_int(name: str, default: int) -> int:
    """Integer from the environment, or the default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise StackError(f"{name}={value!r} is not an integer") from None


# ----------------------------------------------------------------------------- output and commands


@contextlib.contextmanager
def step(name: str, what: str) -> Iterator[None]:
    """Print one progress line for a step, finished with its duration."""
    print(f"{name}: {what} ...", end=" ", flush=True)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"failed ({time.monotonic() - started:.1f} s)", flush=True)
        raise
    print(f"done ({time.monotonic() - started:.1f} s)", flush=True)


def tail(path: Path, lines: int = LOG_TAIL_LINES, start: int = 0) -> str:
    """Last lines of a log file (from byte offset start), indented for display."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(start if start <= size else 0, size - 64 * 1024))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return f"    ({path} does not exist)"
    selected = text.splitlines()[-lines:] or ["(empty)"]
    return f"    --- {path}\n" + "\n".join(f"    {line}" for line in selected)


def run(cmd: Sequence[str], log: Path, *, stdin: str | None = None, log_command: bool = True, **kwargs: Any) -> None:
    """Run a command to completion with its output appended to log; raise with the log tail on failure.
    log_command=False keeps the arguments (secrets) out of the log and the error."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = shlex.join(cmd) if log_command else f"{cmd[0]} ... (arguments not logged)"
    with log.open("ab") as out:
        out.write(f"\n$ {shown}\n".encode())
        out.flush()
        start = out.tell()
        result = subprocess.run(
            list(cmd),
            input=stdin.encode() if stdin is not None else None,
            stdin=subprocess.DEVNULL if stdin is None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            **kwargs,
        )
    if result.returncode != 0:
        raise StackError(f"{shown} exited with {result.returncode}\n{tail(log, start=start)}")


def succeeds(cmd: Sequence[str], timeout: float = 5.0, **kwargs: Any) -> bool:
    """Whether a quiet command exits with status 0 within the timeout."""
    try:
        return (
            subprocess.run(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
                **kwargs,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_program(name: str, extra_dirs: Sequence[str] = ("/usr/sbin", "/sbin")) -> str | None:
    """Path of an executable on PATH or in extra_dirs."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    return shutil.which(name, path=path)


def as_root(cmd: Sequence[str]) -> list[str]:
    """Command prefixed with sudo when not already root."""
    if os.geteuid() == 0:
        return list(cmd)
    if shutil.which("sudo") is None:
        raise StackError(f"need root to run: {shlex.join(cmd)}")
    return ["sudo", "-n", *cmd]


class Apt:
    """apt-get installs, with one index update per run."""

    updated = False

    @classmethod
    def install(cls, name: str, packages: Sequence[str], log: Path) -> None:
        """Install Debian packages non-interactively."""
        if shutil.which("apt-get") is None:
            raise StackError(f"{name}: apt-get not found; install {' '.join(packages)} by hand")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with step(name, f"installing {' '.join(packages)} (apt)"):
            if not cls.updated:
                run(as_root(["apt-get", "update"]), log, env=env)
                cls.updated = True
            run(as_root(["apt-get", "install", "-y", *packages]), log, env=env)


def write_secret(path: Path, generate: Callable[[], str]) -> str:
    """Read a secret file, creating it (mode 600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    value = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner may read (mode 600, also when it existed before)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def owner_only(root: Path, skip: Sequence[Path] = ()) -> None:
    """Take group and other permissions off everything under root (a state folder made before they
    were kept private), leaving out the trees in skip."""
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = [name for name in subdirs if here / name not in skip]
        for path in (here, *(here / name for name in files)):
            with contextlib.suppress(FileNotFoundError):
                mode = path.lstat().st_mode
                if not stat.S_ISLNK(mode) and mode & 0o077:
                    path.chmod(stat.S_IMODE(mode) & 0o700)


def read_from(path: Path, offset: int) -> str:
    """Text of a file from a byte offset (from the start if the file was truncated or rotated)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(offset if offset <= size else 0)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def file_size(path: Path) -> int:
    """Size of a file, 0 when missing."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


# ----------------------------------------------------------------------------- processes


def proc_cmdline(pid: int) -> list[str] | None:
    """Arguments of a live (non-zombie) process, None if there is none."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
        if state.rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until a process has exited; True if it did within the timeout."""
    deadline = time.monotonic() + timeout
    while proc_cmdline(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def port_open(port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on HOST:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """Whether a GET of url on loopback answers 200 within two seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly size bytes from a socket."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed")
        chunks += chunk
    return bytes(chunks)


def go_module_source(go: str, module: str, version: str, into: Path, name: str) -> dict[str, Any]:
    """Copy a Go module's source, as the module proxy serves it, into `into` (replaced; its folders
    writable by their owner, so that it can be patched and built); returns `go mod download`'s
    description of the module (its `Origin` names the commit)."""
    found = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, check=False, cwd="/"
    )
    if found.returncode != 0:
        raise StackError(f"{name}: go mod download failed:\n{found.stdout}{found.stderr}")
    info: dict[str, Any] = json.loads(found.stdout)
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(info["Dir"], into, copy_function=shutil.copyfile)
    for directory, _, _ in os.walk(into):
        os.chmod(directory, 0o700)
    return info


def find_go(name: str, purpose: str) -> str:
    """Path of the Go toolchain; a StackError that says what it was needed for when there is none."""
    go = find_program("go", ("/usr/local/go/bin",))
    if go is None:
        raise StackError(f"{name}: Go (1.24 or newer) is needed {purpose}; it is not on PATH")
    return go


def go_built(binary: Path, build_id: str) -> bool:
    """Whether binary is there and go_build stamped it with build_id."""
    stamp = binary.with_name("build-id")
    return binary.exists() and stamp.exists() and stamp.read_text().strip() == build_id


def go_build(
    go: str, source: Path, package: str, binary: Path, build_id: str, log: Path, try_with: Sequence[str] = ()
) -> None:
    """Build `package` (`./cmd/<name>`) of the module source in `source` into binary, stamped with
    build_id, then remove `source`. The new program replaces binary only once it is built and, when
    try_with names arguments, has run with them and exited 0."""
    target = binary.with_suffix(".tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    run([go, "build", "-buildvcs=false", "-trimpath", "-o", str(target), package], log, cwd=source)
    if try_with:
        run([str(target), *try_with], log)
    target.rename(binary)
    binary.with_name("build-id").write_text(build_id + "\n")
    shutil.rmtree(source, ignore_errors=True)
