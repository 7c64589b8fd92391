"""The real Backend.AI manager 26.9.6 as a test judge (docs/real-backendai.md).

`scripts/real-backendai.sh` brings the cluster up; `agent_plugin/` is put on the agent's
PYTHONPATH so its dummy agent runs real code; `cluster.py` is what the pytest suites use.
"""
