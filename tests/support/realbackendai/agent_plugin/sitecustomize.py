"""Swaps the dummy agent for `realexec.RealExecAgent` in the Backend.AI agent's processes.

`scripts/real-backendai.sh` puts this folder on the agent's PYTHONPATH, so Python imports this
module at start-up in the agent and in every worker process it spawns. The agent asks
`ai.backend.agent.dummy.get_agent_discovery()` which agent class to run; once that package is
loaded we point the function at our discovery, which returns the subclass. site-packages is
never edited, and a process without BAI_REALEXEC_STATE (a kernel runner, a user program) is
left alone.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_PACKAGE = "ai.backend.agent.dummy"


class _SwapDiscoveryAfterLoad(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _PACKAGE:
            return None
        sys.meta_path.remove(self)  # find the real spec, then wrap its loader once
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            import realexec

            realexec.install(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if os.environ.get("BAI_REALEXEC_STATE"):
    sys.meta_path.insert(0, _SwapDiscoveryAfterLoad())
