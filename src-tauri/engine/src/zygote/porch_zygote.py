"""Porch's pre-imported Python helper (a fork server, "zygote") for one Python environment.

Porch runs this file with the environment's own interpreter as
`python -c <this source> <socket path> <porch pid> <module>...` (it is embedded in the
engine). It imports the listed modules (the frameworks of the environment's app modes; a
module that is not installed is skipped), checks that nothing it imported started a thread,
opened a socket or an event loop, then listens on a Unix socket (mode 0600, inside Porch's
0700 data folder) and prints `porch-zygote: ready`. If the check fails it prints
`porch-zygote: unsafe: <why>` and exits with status 3; Porch then starts this environment's
apps plainly.

One connection per worker. Porch sends one JSON line `{"program", "args", "env", "cwd"}`:
the exact command the launcher would run. The helper forks twice: the middle process exits
at once, so the worker is re-parented to Porch (Porch is the child subreaper) and is Porch's
child like any worker it spawns. The worker starts its own session (process group), waits
until Porch is its parent, sets its parent-death signal to SIGKILL (so it dies with Porch),
answers `ok <pid>` and waits for `go` (Porch has recorded the pid, so Porch's orphan reaper
never takes its exit status). Then it changes directory, sets the environment, makes the
connection its stdout and stderr (Porch's log pump reads it), and runs the command in this
interpreter: `python -c <code> args…` as code, or a console script of this environment
(`bin/streamlit`) as a script, exactly as Python would run them. Anything else is refused
with `error <why>` before forking, and Porch starts the worker plainly.

The helper serves one connection at a time; a fork takes a few milliseconds.
"""

import importlib
import json
import os
import socket
import sys
import threading
import time
import traceback

PR_SET_PDEATHSIG = 1
SIGKILL = 9
MAX_REQUEST = 16 << 20
SH_TRAMPOLINE = b"'" * 3 + b"exec' "
BESIDE_SCRIPT = '"$(dirname -- "$(realpath -- "$0")")"/'


def say(text):
    sys.stdout.write(f"porch-zygote: {text}\n")
    sys.stdout.flush()


def preimport(modules):
    """Imports what it can; a module missing from this environment is not an error."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError:
            pass
    return loaded


def unsafe_state():
    """Why forking this process would be unsafe now, or None."""
    if threading.active_count() != 1:
        return f"{threading.active_count()} Python threads are running"
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        tasks = ["?"]
    if len(tasks) != 1:
        return f"{len(tasks)} threads are running"
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:") and int(fd) > 2:
            return f"file descriptor {fd} is an open socket"
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        if asyncio.events._get_running_loop() is not None:
            return "an asyncio event loop is running"
        policy = asyncio.events._event_loop_policy
        local = getattr(policy, "_local", None)
        if getattr(local, "_loop", None) is not None:
            return "an asyncio event loop was created"
    return None


def same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def how_to_run(program, args):
    """("code", source, argv) or ("script", path, argv), or raises ValueError."""
    if same_file(program, sys.executable):
        if len(args) >= 2 and args[0] == "-c":
            return ("code", args[1], ["-c"] + list(args[2:]))
        raise ValueError("only `python -c` commands can be forked")
    if os.path.dirname(os.path.abspath(program)) != os.path.dirname(os.path.abspath(sys.executable)):
        raise ValueError(f"{program} is not a script of this environment")
    with open(program, "rb") as f:
        first = f.readline(4096)
        second = f.readline(4096)
    if not first.startswith(b"#!"):
        raise ValueError(f"{program} has no #! line")
    interpreter = first[2:].strip().split(b" ")[0].decode("utf-8", "replace")
    if interpreter == "/bin/sh" and second.startswith(SH_TRAMPOLINE):
        # The shell-and-Python form installers write when the interpreter's path is too
        # long for a #! line: '''exec' '/path/python' "$0" "$@"
        rest = second[len(SH_TRAMPOLINE) :].decode("utf-8", "replace")
        # uv's relocatable form names the interpreter beside the script.
        if rest.startswith(BESIDE_SCRIPT):
            beside = os.path.dirname(os.path.realpath(program))
            interpreter = os.path.join(beside, shell_word(rest[len(BESIDE_SCRIPT) :]))
        else:
            interpreter = shell_word(rest)
    if not same_file(interpreter, sys.executable):
        raise ValueError(f"{program} runs {interpreter}, not this interpreter")
    return ("script", program, [program] + list(args))


def shell_word(text):
    """The first word of a shell command line, unquoted (one quoting style per word)."""
    text = text.lstrip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else ""
    words = text.split()
    return words[0] if words else ""


def run(kind, what, argv):
    """Runs the command as `python` would, as __main__."""
    import runpy
    import types

    sys.argv = argv
    if kind == "code":
        main = types.ModuleType("__main__")
        main.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = main
        sys.path[0] = ""
        exec(compile(what, "<string>", "exec"), main.__dict__)
    else:
        sys.path[0] = os.path.dirname(os.path.abspath(what))
        runpy.run_path(what, run_name="__main__")


def finish(code):
    """Ends the worker the way the interpreter ends: joins threads, runs atexit, flushes."""
    try:
        threading._shutdown()
    except Exception:
        pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except Exception:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def exit_code(err):
    code = err.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def worker(conn, reader, request, porch_pid):
    """The forked worker (never returns)."""
    os.setsid()
    deadline = time.monotonic() + 5
    while os.getppid() != porch_pid:
        if time.monotonic() > deadline:
            conn.sendall(b"error the worker was not adopted by Porch\n")
            os._exit(1)
        time.sleep(0.0002)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0:
        conn.sendall(b"error cannot set the parent-death signal\n")
        os._exit(1)
    if os.getppid() != porch_pid:
        os._exit(1)
    conn.sendall(f"ok {os.getpid()}\n".encode())
    if reader.readline(16).strip() != b"go":
        os._exit(1)
    kind, what, argv = request["plan"]
    os.chdir(request["cwd"])
    for key, value in request["env"]:
        os.environ[key] = value
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(conn.fileno(), 1)
    os.dup2(conn.fileno(), 2)
    reader.close()
    conn.close()
    try:
        run(kind, what, argv)
    except SystemExit as err:
        finish(exit_code(err))
    except BaseException:
        traceback.print_exc()
        finish(1)
    finish(0)


def serve(listener, conn, porch_pid):
    reader = conn.makefile("rb")
    line = reader.readline(MAX_REQUEST)
    if not line.endswith(b"\n"):
        return
    request = json.loads(line)
    try:
        request["plan"] = how_to_run(request["program"], request["args"])
    except (ValueError, OSError) as err:
        conn.sendall(f"error {err}\n".encode())
        return
    sys.stdout.flush()
    sys.stderr.flush()
    middle = os.fork()
    if middle == 0:
        code = 1
        try:
            listener.close()
            if os.fork() == 0:
                try:
                    worker(conn, reader, request, porch_pid)
                finally:
                    os._exit(1)
            code = 0
        finally:
            os._exit(code)
    os.waitpid(middle, 0)


def main():
    path, porch_pid, modules = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    loaded = preimport(modules)
    problem = unsafe_state()
    if problem is not None:
        say(f"unsafe: {problem} after importing {', '.join(loaded) or 'nothing'}")
        sys.exit(3)
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(16)
    say(f"ready (imported {', '.join(loaded) or 'nothing'})")
    while True:
        conn, _ = listener.accept()
        try:
            serve(listener, conn, porch_pid)
        except Exception:
            traceback.print_exc()
        finally:
            conn.close()


if __name__ == "__main__":
    main()
