"""A Backend.AI 26.9.6 dummy agent that runs real code, for the project's real-manager tests.

The dummy agent schedules, creates and destroys kernels without containers, but its `execute`
answers "not-implemented". `RealExecAgent` keeps all of the dummy's bookkeeping and adds what a
container would provide: for each kernel it starts Backend.AI's own in-container program, the
kernel runner (`ai.backend.kernel python <python>`, PyPI `backend.ai-kernel`), and
points the dummy kernel's real ZeroMQ code runner (`use-fake-code-runner = false`) at it. The
manager's execute RPC then takes the production path: `AbstractAgent.execute` ->
`kernel.execute()` -> code runner -> kernel runner -> Jupyter kernel (query) or shell (batch).

Each runner lives in its own mount namespace (`unshare -m`) that looks like a container's: a
private tmpfs on /home with the kernel's scratch `work` and `config` folders bound on
/home/work and /home/config (the Docker agent's layout), and a private /tmp (so the runner's
fixed batch-input socket path cannot collide between sessions). The runner reads its ports from
/home/config/intrinsic-ports.json and the kernel environment from /home/config/environ.txt.

Settings come from the environment `scripts/real-backendai.sh` gives the agent:
BAI_REALEXEC_STATE (state folder: runner logs, Jupyter kernelspecs) and BAI_REALEXEC_KVENV
(the "image" Python: a venv with backend.ai-kernel and ipykernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import stat
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from ai.backend.agent.agent import ACTIVE_STATUS_SET, AbstractAgent
from ai.backend.agent.dummy import DummyAgentDiscovery
from ai.backend.agent.dummy.agent import DummyAgent, DummyKernelCreationContext
from ai.backend.agent.dummy.kernel import DummyKernel
from ai.backend.agent.types import Container, Port
from ai.backend.common.docker import LabelName
from ai.backend.common.types import ContainerId, ContainerStatus

log = logging.getLogger("ai.backend.agent.realexec")

STATE = Path(os.environ.get("BAI_REALEXEC_STATE", "/nonexistent"))
KVENV = Path(os.environ.get("BAI_REALEXEC_KVENV", "/nonexistent"))
HOME_WORK = PurePosixPath("/home/work")
STOP_GRACE_S = 5.0
# Kernel variables that would point the runner at things only a real image has.
_HOST_ONLY_VARS = frozenset({"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "HOME", "PYTHONPATH"})
# Runs inside the new mount namespace ($1 = the kernel's scratch folder), then execs the runner.
_ENTER_CONTAINER_LAYOUT = (
    "set -e; mount -t tmpfs -o mode=0755 bai-home /home; mkdir /home/work /home/config; "
    'mount --bind "$1/work" /home/work; mount --bind "$1/config" /home/config; '
    'mount -t tmpfs -o mode=1777 bai-tmp /tmp; cd /home/work; shift; exec "$@"'
)
# `python -m ai.backend.kernel` re-executes itself as "bai-krunner" first, and the re-executed
# interpreter no longer finds a venv's site-packages ("No module named 'ai'"). The package skips
# that step under pytest (PYTEST_VERSION set), so the runner is started through this launcher,
# which sets it only while the package is imported: the user's programs never see it.
_LAUNCH_RUNNER = (
    "import os, runpy; os.environ['PYTEST_VERSION'] = 'bai-lsp-realexec'; "
    "import ai.backend.kernel; "
    "del os.environ['PYTEST_VERSION']; "
    "runpy.run_module('ai.backend.kernel', run_name='__main__', alter_sys=True)"
)
_reapers: set[asyncio.Task[Any]] = set()


def _scratch(scratch_root: str | os.PathLike[str], kernel_id: Any) -> Path:
    return Path(scratch_root) / str(kernel_id)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _take_ports(pool: Any, count: int) -> list[int]:
    """Ports from the agent's own pool; ones something else holds go back after the pick."""
    taken: list[int] = []
    held: list[int] = []
    while len(taken) < count:
        port = pool.acquire()
        (taken if _free(port) else held).append(port)
    pool.release_many(held)
    return taken


async def _start_runner(
    scratch: Path, kernel_id: Any, ports: Sequence[int], env: Mapping[str, Any]
) -> int:
    (scratch / "work").mkdir(parents=True, exist_ok=True)
    (scratch / "config").mkdir(parents=True, exist_ok=True)
    names = ("replin", "replout", "sshd", "ttyd")
    (scratch / "config" / "intrinsic-ports.json").write_text(
        json.dumps(dict(zip(names, ports, strict=True)))
    )
    kernel_env = {
        k: str(v) for k, v in env.items() if k not in _HOST_ONLY_VARS and "\n" not in str(v)
    }
    (scratch / "config" / "environ.txt").write_text(
        "".join(f"{k}={v}\n" for k, v in kernel_env.items())
    )
    runner_env = {
        "PATH": f"{KVENV}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(HOME_WORK),
        "LANG": "C.UTF-8",
        "JUPYTER_PATH": str(STATE / "jupyter"),
        "BACKENDAI_KERNEL_ID": str(kernel_id),
        # how `real-backendai.sh down` recognises a straggler of this cluster
        "BAI_REALBACKENDAI_MARK": os.environ.get("BAI_REALBACKENDAI_MARK", ""),
    }
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"runner-{kernel_id}.log", "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", _ENTER_CONTAINER_LAYOUT, "bai-container", str(scratch),
            str(KVENV / "bin" / "python"), "-c", _LAUNCH_RUNNER,
            "python", str(KVENV / "bin" / "python"),
            env=runner_env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    (scratch / "runner.pid").write_text(f"{proc.pid}\n")
    reaper = asyncio.get_running_loop().create_task(proc.wait())
    _reapers.add(reaper)
    reaper.add_done_callback(_reapers.discard)
    log.info("realexec: runner of kernel %s started (pid %d, ports %s)", kernel_id, proc.pid, ports)
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _runner_pid(scratch: Path) -> int | None:
    try:
        return int((scratch / "runner.pid").read_text().strip())
    except (OSError, ValueError):
        return None


async def _stop_runner(scratch: Path) -> None:
    """SIGTERM to the runner's process group (runner, Jupyter kernel, programs), then SIGKILL."""
    pid = _runner_pid(scratch)
    if pid is None:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    else:
        deadline = asyncio.get_running_loop().time() + STOP_GRACE_S
        while _alive(pid) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    (scratch / "runner.pid").unlink(missing_ok=True)


class RealExecKernel(DummyKernel):
    """Status, interrupt and files go to the kernel's runner and scratch folder."""

    def _work(self, container_path: os.PathLike[str] | str) -> Path:
        work = _scratch(self.agent_config["container"]["scratch-root"], self.kernel_id) / "work"
        rel = PurePosixPath(os.path.normpath(os.fspath(container_path)))
        if rel.is_absolute():
            if not rel.is_relative_to(HOME_WORK):
                raise PermissionError("Not allowed to access files outside /home/work")
            rel = rel.relative_to(HOME_WORK)
        path = (work / rel).resolve()
        if not path.is_relative_to(work.resolve()):
            raise PermissionError("Not allowed to access files outside /home/work")
        return path

    async def check_status(self) -> Any:
        if self.runner is None:
            raise RuntimeError("the kernel runner is not connected yet")
        return await self.runner.feed_and_get_status()

    async def interrupt_kernel(self) -> dict[str, Any]:
        if self.runner is not None:
            await self.runner.feed_interrupt()
        return {"status": "finished"}

    async def accept_file(self, container_path: os.PathLike[str] | str, filedata: bytes) -> None:
        path = self._work(container_path)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(filedata)

        await asyncio.to_thread(write)

    async def download_file(self, container_path: os.PathLike[str] | str) -> bytes:
        path = self._work(container_path)

        def archive() -> bytes:  # what Docker's get_archive returns: a tar of the path
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(str(path), arcname=path.name)
            if buf.tell() > 1024 * 1024:
                raise ValueError("Too large archive file exceeding 1 MiB")
            return buf.getvalue()

        return await asyncio.to_thread(archive)

    async def download_single(self, container_path: os.PathLike[str] | str) -> bytes:
        path = self._work(container_path)
        if not path.is_file():
            raise RuntimeError(
                f"Could not download the archive to: {HOME_WORK / str(container_path)}"
            )
        return await asyncio.to_thread(path.read_bytes)

    async def list_files(self, container_path: os.PathLike[str] | str) -> dict[str, Any]:
        path = self._work(container_path)
        work = _scratch(self.agent_config["container"]["scratch-root"], self.kernel_id) / "work"

        def scan() -> dict[str, Any]:
            entries, errors = [], ""
            try:
                for entry in os.scandir(path):
                    st = entry.stat(follow_symlinks=False)
                    entries.append({
                        "mode": stat.filemode(st.st_mode), "size": st.st_size,
                        "ctime": st.st_ctime, "mtime": st.st_mtime, "atime": st.st_atime,
                        "filename": entry.name,
                    })  # fmt: skip
            except OSError as e:
                errors = str(e)
            where = HOME_WORK / path.relative_to(work.resolve())
            return {"files": json.dumps(entries), "errors": errors, "abspath": str(where)}

        return await asyncio.to_thread(scan)


class RealExecCreationContext(DummyKernelCreationContext):
    """Builds `RealExecKernel`s and starts a runner for each on ports of the agent's pool."""

    port_pool: Any = None

    async def prepare_container(
        self, resource_spec: Any, environ: Any, service_ports: Any, cluster_info: Any
    ) -> Any:
        dummy = await super().prepare_container(resource_spec, environ, service_ports, cluster_info)
        return RealExecKernel(
            self.ownership_data,
            self.kernel_config["network_id"],
            self.image_ref,
            self.kspec_version,
            agent_config=dummy.agent_config,
            service_ports=service_ports,
            resource_spec=resource_spec,
            environ=environ,
            data={},
            dummy_config=self.dummy_config,
        )

    async def start_container(self, kernel_obj: Any, *args: Any, **kwargs: Any) -> Any:
        data = dict(await super().start_container(kernel_obj, *args, **kwargs))
        ports = _take_ports(self.port_pool, 4)  # replin, replout, sshd, ttyd
        scratch = _scratch(
            kernel_obj.agent_config["container"]["scratch-root"], kernel_obj.kernel_id
        )
        try:
            await _start_runner(
                scratch, kernel_obj.kernel_id, ports, dict(kernel_obj.environ or {})
            )
        except BaseException:
            self.port_pool.release_many(ports)
            raise
        data.update(
            repl_in_port=ports[0], repl_out_port=ports[1],
            stdin_port=ports[2], stdout_port=ports[3],
            host_ports=ports,  # the agent gives them back to the pool when the kernel is cleaned
        )  # fmt: skip
        return data


class RealExecAgent(DummyAgent):
    """The dummy agent with the base agent's execute path and live runners as its containers."""

    async def execute(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await AbstractAgent.execute(self, *args, **kwargs)

    async def init_kernel_context(
        self,
        ownership_data: Any,
        kernel_image: Any,
        kernel_config: Any,
        *,
        restarting: bool = False,
        cluster_ssh_port_mapping: Any = None,
    ) -> Any:
        distro = await self.resolve_image_distro(kernel_config["image"])
        ctx = RealExecCreationContext(
            ownership_data, self.event_producer, kernel_image, kernel_config, distro,
            self.local_config, self.computers, restarting=restarting,
            dummy_config=self.dummy_config,
        )  # fmt: skip
        ctx.port_pool = self.port_pool
        return ctx

    def _scratch_of(self, kernel_id: Any) -> Path:
        return _scratch(self.local_config.container.scratch_root, kernel_id)

    async def enumerate_containers(self, status_filter: Any = ACTIVE_STATUS_SET) -> Sequence[Any]:
        """Kernels whose runner lives are RUNNING containers.

        The dummy lists none, so the agent's periodic sweep would drop every kernel as dangling
        about a minute after it started, and execute/destroy would fail from then on.
        """
        found = []
        for kernel_id, kernel in list(self.kernel_registry.items()):
            pid = _runner_pid(self._scratch_of(kernel_id))
            status = ContainerStatus.RUNNING if pid and _alive(pid) else ContainerStatus.EXITED
            if status not in status_filter:
                continue
            labels = {
                LabelName.KERNEL_ID: str(kernel_id),
                LabelName.SESSION_ID: str(kernel.session_id),
                LabelName.AGENT_ID: str(self.id),
            }
            ports = [Port("127.0.0.1", p, p) for p in kernel.data.get("host_ports") or []]
            image = str(getattr(kernel.image, "canonical", kernel.image))
            container = Container(
                id=ContainerId(kernel.data.get("container_id") or ""), status=status, image=image,
                labels=labels, ports=ports, backend_obj=None,
            )  # fmt: skip
            found.append((kernel_id, container))
        return found

    async def destroy_kernel(self, kernel_id: Any, container_id: Any) -> None:
        await super().destroy_kernel(kernel_id, container_id)
        await _stop_runner(self._scratch_of(kernel_id))

    async def clean_kernel(self, kernel_id: Any, container_id: Any, restarting: bool) -> None:
        await super().clean_kernel(kernel_id, container_id, restarting)
        await _stop_runner(self._scratch_of(kernel_id))
        if not restarting:
            shutil.rmtree(self._scratch_of(kernel_id), ignore_errors=True)


class RealExecDiscovery(DummyAgentDiscovery):
    def get_agent_cls(self) -> Any:
        return RealExecAgent


def install(dummy_package: ModuleType) -> None:
    """Make the agent's backend lookup return `RealExecAgent` for `mode = "dummy"`."""
    dummy_package.get_agent_discovery = RealExecDiscovery  # type: ignore[attr-defined]
    log.warning(
        "realexec: dummy agent runs real code (runner python: %s)", KVENV / "bin" / "python"
    )
