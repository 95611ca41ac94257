"""Run a Pulumi CLI command on a Python program without pulumi-language-python.

The Python language host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
is not served by the Go module proxy here, so it cannot be built (tools/pulumi/README.md). The CLI
has a hidden `--client ADDRESS` flag (preview, up, refresh, destroy) that connects to a language
runtime already running; the Python SDK's own Automation API uses it for inline programs with
`pulumi.automation._server.LanguageServer`. This script does the same for a program on disk:

    python tools/pulumi/pulumi_client_host.py [--program DIR] -- pulumi up --yes

starts that LanguageServer (running DIR/__main__.py, default: the current directory) on
127.0.0.1, appends `--client=127.0.0.1:PORT` to the command, runs it and exits with its code.
`--preload FILE` runs FILE in the same program run just before DIR/__main__.py (make e2e registers
its stack transform that way: tools/e2e/skip_await.py).
Run it with the interpreter of the environment that has the program's packages (.venv/bin/python).
"""

from __future__ import annotations

import argparse
import os
import runpy
import subprocess
import sys
from concurrent import futures

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc

CLIENT_COMMANDS = {"preview", "up", "update", "refresh", "destroy"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--program", default=".", help="folder with __main__.py")
    parser.add_argument("--preload", action="append", default=[], help="a Python file to run first (repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- pulumi ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    program_dir = os.path.abspath(args.program)
    main_py = os.path.join(program_dir, "__main__.py")
    preloads = [os.path.abspath(p) for p in args.preload]

    def program() -> None:
        if program_dir not in sys.path:
            sys.path.insert(0, program_dir)
        for path in preloads:
            runpy.run_path(path, run_name="__preload__")
        runpy.run_path(main_py, run_name="__main__")

    if not any(word in CLIENT_COMMANDS for word in command[1:]):
        return subprocess.call(command)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        return subprocess.call([*command, f"--client=127.0.0.1:{port}"])
    finally:
        server.stop(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
