"""Start a module's ``main(argv)`` in processes forked from one that has imported it already.

Run by harness.Zygote (``python zygote.py MODULE FD``): FD is a Unix socket (SOCK_SEQPACKET). For each request
on it - the arguments as JSON, with the write end of the child's output pipe passed alongside
(SCM_RIGHTS) - it forks; the child points its stdout and stderr at that pipe and runs
``main(arguments)`` from the start, as ``python -m MODULE arguments`` would; the parent answers
the child's pid. The children are separate processes (a test may SIGKILL them); they only skip
the interpreter's start and the imports (a third of a second of CPU each), which are no part of
what a restart test checks. The kernel reaps them (SIGCHLD ignored).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys
import traceback


def _child(main: object, args: list[str], out: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    code: object = 0
    try:
        code = main(args)  # type: ignore[operator]
    except SystemExit as err:
        code = err.code
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback, status 1
        traceback.print_exc()
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def serve(module: str, fd: int) -> None:
    main = importlib.import_module(module).main
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    with socket.socket(fileno=fd) as sock:
        sock.sendall(b"up\n")
        while True:
            data, fds, _flags, _addr = socket.recv_fds(sock, 65536, 1)
            if not data:
                return  # the test closed its end
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                sock.close()
                _child(main, json.loads(data), fds[0])
            os.close(fds[0])
            sock.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
