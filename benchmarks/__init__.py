"""Side-by-side benchmarks: raw ipykernel, the official SDK, and bai-lsp end to end.

Run ``python -m benchmarks [--smoke] [--write-docs]`` (docs/performance.md explains the
method and holds the last full results).
"""
