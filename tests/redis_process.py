"""Real redis-server processes for tests: start, kill, restart on the same port, clusters."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(cluster: bool = False) -> int:
    """A free loopback port; for a cluster node one below 55536 whose bus port (+10000) is free
    too."""
    if cluster:
        import random

        for _ in range(1000):
            port = random.randint(20000, 50000)
            if _bindable(port) and _bindable(port + 10000):
                return port
        raise RuntimeError("no free port pair for a cluster node")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_exe() -> str:
    exe = shutil.which("redis-server")
    if exe is None:  # a failure, never a skip: .ci/run installs it
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    return exe


class RedisProcess:
    """One redis-server on 127.0.0.1:port; ``extra`` arguments are passed through."""

    def __init__(self, workdir: Path, port: int | None = None, extra: list[str] | None = None,
                 tcp: bool = True) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait_port: int | None = None) -> RedisProcess:
        self.proc = subprocess.Popen(
            [redis_exe(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        port = wait_port or self.port
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def start_cluster(workdir: Path, n: int = 3) -> list[RedisProcess]:
    """n masters (no replicas) joined with redis-cli --cluster create."""
    nodes: list[RedisProcess] = []
    try:
        for i in range(n):
            nodes.append(RedisProcess(workdir / f"node{i}", port=free_port(cluster=True), extra=[
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000"]).start())
        return _join(nodes)
    except BaseException:
        for node in nodes:
            node.kill()
        raise


def _join(nodes: list[RedisProcess]) -> list[RedisProcess]:
    subprocess.run(
        ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p.port}" for p in nodes),
         "--cluster-replicas", "0", "--cluster-yes"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    deadline = time.monotonic() + 30
    while True:  # every node must agree: one that has not seen the slots yet answers CLUSTERDOWN
        outs = [subprocess.run(["redis-cli", "-p", str(p.port), "cluster", "info"],
                               capture_output=True, text=True, timeout=10).stdout for p in nodes]
        if all("cluster_state:ok" in out for out in outs):
            return nodes
        if time.monotonic() > deadline:
            raise RuntimeError(f"cluster did not come up: {outs}")
        time.sleep(0.1)
