"""Batch mode end to end: the workspace travels to the session, then build and exec run."""

from __future__ import annotations

from pathlib import Path

from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend


async def test_python_file_importing_a_sibling_module(tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "helper.py").write_text("def greet(who):\n    return f'hello from helper, {who}'\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "big.bin").write_bytes(b"\0" * (2 * 1024 * 1024))
    main = tmp_path / "main.py"
    main.write_text("print('stale text on disk')\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        # the editor's unsaved text is what runs
        doc = open_doc(h, main, "import helper\nprint(helper.greet('batch'))\n")
        result = await h.command("backendai.runFile", {"uri": doc, "mode": "batch"})
        assert result["status"] == "finished", result
        assert result["exitCode"] == 0
        assert "hello from helper, batch" in h.output_text(result["runId"])
        notes = h.output_text(result["runId"], "stderr")
        assert "big.bin" in notes and "maxFileBytes" in notes
        assert h.of("backendai/runStarted", result["runId"])[0]["mode"] == "batch"


async def test_c_file_compiled_and_run(tmp_path: Path, state_dir: Path) -> None:
    source = (
        "#include <stdio.h>\n"
        "int main(void) {\n"
        '    printf("compiled %d\\n", 6 * 7);\n'
        "    return 3;\n"
        "}\n"
    )
    (tmp_path / "prog.c").write_text(source)
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        result = await h.command(
            "backendai.runFile", {"uri": uri(tmp_path / "prog.c"), "mode": "batch"}
        )
        assert result["status"] == "finished", result
        assert "compiled 42" in h.output_text(result["runId"])
        assert result["exitCode"] == 3
        started = h.of("backendai/runStarted", result["runId"])[0]
        assert started["sessionName"].endswith("-c")


async def test_c_compile_error_is_shown(tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "broken.c").write_text("int main(void) { return nope; }\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        result = await h.command(
            "backendai.runFile", {"uri": uri(tmp_path / "broken.c"), "mode": "batch"}
        )
        assert result["exitCode"] != 0
        err = h.output_text(result["runId"], "stderr") + h.output_text(result["runId"])
        assert "nope" in err
