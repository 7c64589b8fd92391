"""The session launcher and vfolders over LSP (issue 18), against the embedded gateway.

``options`` lists what the gateway has, ``configure`` changes what the next session is
created with (seen in the backend's own session info), a vfolder file uploaded through
the server is read by a session that mounts the folder, a 50 MB upload reports progress
and loses nothing, and every bad argument answers with a message naming it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.harness import PRIVATE, needs_backend, open_doc, rng, start_server, uri

pytestmark = needs_backend


async def _refused(h: Any, command: str, args: dict[str, Any]) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as caught:
        await h.command(command, args)
    return caught.value


async def test_options_list_the_gateways_images_presets_and_groups(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        options = await h.command("backendai.session.options", {"uri": uri(tmp_path)})
        refs = {image["ref"].split(":")[0] for image in options["images"]}
        assert {"python", "bash", "node", "c"} <= refs
        presets = {p["name"]: p for p in options["presets"]}
        assert presets["cpu01-small"]["allocatable"] is True
        assert presets["cpu01-small"]["resources"] == {"cpu": "1", "mem": str(1024**3)}
        assert options["resourceGroups"] == ["default"]
        assert options["allowance"]["keypairRemaining"]["cpu"] == "Infinity"
        assert options["current"]["image"] == "python"


async def test_configure_with_a_preset_changes_the_next_sessions_resources(
    tmp_path: Path, state_dir: Path
) -> None:
    folder = uri(tmp_path)
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        answer = await h.command(
            "backendai.session.configure", {"uri": folder, "preset": "cpu02-medium"}
        )
        assert answer["sessionRunning"] is False
        assert answer["choice"]["resources"] == {"cpu": "2", "mem": str(4 * 1024**3)}
        assert "applies when the next session starts" in answer["message"]
        await h.command("backendai.session.start", {"uri": folder})
        status = await h.command("backendai.session.status", {"uri": folder})
        assert status["resources"]["requested"] == {"cpu": "2", "mem": str(4 * 1024**3)}
        # A session that already runs keeps its resources, and the answer says so.
        again = await h.command(
            "backendai.session.configure", {"uri": folder, "preset": "cpu01-small"}
        )
        assert again["sessionRunning"] is True
        assert "is running and keeps what it was started with" in again["message"]
        status = await h.command("backendai.session.status", {"uri": folder})
        assert status["resources"]["requested"]["cpu"] == "2"
        await h.command("backendai.session.destroy", {"uri": folder})
        await h.command("backendai.session.start", {"uri": folder})
        status = await h.command("backendai.session.status", {"uri": folder})
        assert status["resources"]["requested"] == {"cpu": "1", "mem": str(1024**3)}
    # The choice is kept in the server's state for the next editor session.
    assert "cpu01-small" in (state_dir / "launcher.json").read_text()


async def test_uploaded_vfolder_file_is_read_by_a_session_mounting_it(
    tmp_path: Path, state_dir: Path
) -> None:
    work = tmp_path / "proj"
    work.mkdir()
    local = tmp_path / "numbers.csv"
    local.write_text("a,b\n1,2\n")
    async with start_server([work], state_dir=state_dir, init_options=PRIVATE) as h:
        await h.command("backendai.vfolders.create", {"name": "shared-data"})
        sent = await h.command(
            "backendai.vfolders.upload",
            {"name": "shared-data", "path": "in/numbers.csv", "localPath": str(local)},
        )
        assert sent["bytes"] == local.stat().st_size
        listed = await h.command("backendai.vfolders.list", {})
        assert "shared-data" in [v["name"] for v in listed["vfolders"]]
        files = await h.command("backendai.vfolders.files", {"name": "shared-data", "path": "in"})
        assert [(f["name"], f["size"]) for f in files["files"]] == [("numbers.csv", 8)]
        opened = await h.command("backendai.vfolders.read", {"uri": files["files"][0]["uri"]})
        assert opened["text"] == "a,b\n1,2\n" and opened["encoding"] == "utf-8"
        await h.command(
            "backendai.session.configure", {"uri": uri(work), "mounts": ["shared-data"]}
        )
        code = "print(open('shared-data/in/numbers.csv').read().splitlines()[1])\n"
        doc = open_doc(h, work / "read.py", code)
        result = await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 1, 0)})
        assert result["status"] == "finished", result
        assert h.output_text(result["runId"]).strip() == "1,2"


async def test_a_50_mb_upload_reports_progress_and_loses_nothing(
    tmp_path: Path, state_dir: Path
) -> None:
    big = tmp_path / "big.bin"
    payload = os.urandom(50 * 1024 * 1024)
    big.write_bytes(payload)
    back = tmp_path / "back.bin"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        await h.command("backendai.vfolders.create", {"name": "bulk"})
        sent = await h.command(
            "backendai.vfolders.upload", {"name": "bulk", "path": "big.bin", "localPath": str(big)}
        )
        assert sent["bytes"] == len(payload)
        uploads = [
            reports
            for reports in h.client.progress_reports.values()
            if isinstance(reports[0], types.WorkDoneProgressBegin)
            and reports[0].title.startswith("Uploading big.bin")
        ]
        assert len(uploads) == 1
        reports = uploads[0]
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        percents = [r.percentage for r in reports[1:-1] if r.percentage is not None]
        assert len(percents) >= 10 and percents == sorted(percents) and percents[-1] == 100
        got = await h.command(
            "backendai.vfolders.download",
            {"name": "bulk", "path": "big.bin", "localPath": str(back)},
        )
        assert got["bytes"] == len(payload)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()
    on_disk = state_dir / "gateway-data" / "vfolders" / "bulk" / "big.bin"
    assert on_disk.stat().st_size == len(payload)


async def test_a_choice_that_cannot_be_saved_is_refused_and_nothing_changes(
    tmp_path: Path, state_dir: Path
) -> None:
    blocked = state_dir / "launcher.json"
    blocked.mkdir(parents=True)  # a folder where the file should go: the save fails
    folder = uri(tmp_path)
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        error = await _refused(
            h, "backendai.session.configure", {"uri": folder, "preset": "cpu02-medium"}
        )
        assert error.code == -32057
        assert f"Cannot save the launcher choice in {blocked}: Is a directory" in error.message
        assert "nothing was changed" in error.message
        options = await h.command("backendai.session.options", {"uri": folder})
        assert options["current"]["choice"] is None
    assert [p.name for p in state_dir.iterdir() if p.name.startswith(".launcher")] == []


async def test_bad_arguments_unknown_folders_and_traversal_say_what_is_wrong(
    tmp_path: Path, state_dir: Path
) -> None:
    folder = uri(tmp_path)
    local = tmp_path / "f.txt"
    local.write_text("x")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        await h.command("backendai.vfolders.create", {"name": "mine"})
        cases: list[tuple[str, dict[str, Any], int, str]] = [
            (
                "backendai.session.configure",
                {"uri": folder, "preset": "gpu-huge"},
                -32602,
                "Unknown resource preset 'gpu-huge'. Presets on this backend: cpu01-small",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "mounts": ["nope"]},
                -32602,
                "Unknown vfolder(s) nope. Your vfolders: mine",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "resourceGroup": "gpu"},
                -32602,
                "Unknown resource group 'gpu'. Resource groups of project default: default",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "clusterSize": 0},
                -32602,
                "clusterSize must be 1 or more",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "clusterSize": "2"},
                -32602,
                "'clusterSize' must be an integer",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "resources": {"cpu": True}},
                -32602,
                "resources.cpu must be a number or a string",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "mounts": "mine"},
                -32602,
                "'mounts' must be a list, got 'mine'",
            ),
            (
                "backendai.session.configure",
                {"uri": folder, "image": " "},
                -32602,
                "image must not be empty",
            ),
            (
                "backendai.vfolders.files",
                {"name": "nope"},
                -32063,
                "Backend.AI has no vfolder 'nope'",
            ),
            (
                "backendai.vfolders.files",
                {"name": "mine", "path": "../.."},
                -32602,
                "must be relative and stay inside the vfolder",
            ),
            (
                "backendai.vfolders.upload",
                {"name": "mine", "path": "../escape.txt", "localPath": str(local)},
                -32602,
                "must be relative and stay inside the vfolder",
            ),
            (
                "backendai.vfolders.upload",
                {"name": "mine", "path": "a.txt", "localPath": "relative.txt"},
                -32602,
                "localPath must be an absolute path",
            ),
            (
                "backendai.vfolders.upload",
                {"name": "mine", "path": "a.txt", "localPath": str(tmp_path / "missing")},
                -32602,
                "is not a readable file",
            ),
            (
                "backendai.vfolders.upload",
                {"name": "nope", "path": "a.txt", "localPath": str(local)},
                -32063,
                "Backend.AI has no vfolder 'nope'",
            ),
            (
                "backendai.vfolders.download",
                {"name": "mine", "path": "a.txt", "localPath": str(local)},
                -32602,
                "already exists; nothing was overwritten",
            ),
            (
                "backendai.vfolders.download",
                {"name": "mine", "path": "missing.txt", "localPath": str(tmp_path / "m")},
                -32063,
                "no such path in it",
            ),
            (
                "backendai.vfolders.read",
                {"uri": "file:///etc/passwd"},
                -32602,
                "is not a bai-vfolder: URI",
            ),
            (
                "backendai.vfolders.read",
                {"uri": "bai-vfolder://mine/../../etc/passwd"},
                -32602,
                "must be relative and stay inside the vfolder",
            ),
            (
                "backendai.vfolders.create",
                {"name": "bad/name"},
                -32602,
                "Invalid vfolder name 'bad/name'",
            ),
            ("backendai.vfolders.create", {"name": "mine"}, -32602, "already exists"),
            (
                "backendai.vfolders.upload",
                {"name": "mine", "path": "a.txt"},
                -32602,
                "the argument has no 'localPath' field",
            ),
        ]
        for command, args, code, says in cases:
            error = await _refused(h, command, args)
            assert (error.code, says in error.message) == (code, True), (command, args, error)
        assert not (tmp_path / "m").exists()
        assert local.read_text() == "x"


async def test_a_run_longer_than_the_idle_timeout_keeps_its_session(
    tmp_path: Path, state_dir: Path
) -> None:
    """Keep-alive: a streamed run and a REST run each outlast a 2 s idle timeout (then read
    an answer); no session is reclaimed, the second run reuses the first one's session."""
    from support.gateway import running_gateway

    with running_gateway(tmp_path / "gw", args=["--idle-timeout", "2"]) as gw:
        work = tmp_path / "ws"
        work.mkdir()
        names: list[str] = []
        for transport in ("websocket", "rest"):
            options = {
                "endpoint": gw.endpoint,
                "accessKey": gw.access_key,
                "secretKey": gw.secret_key,
                "onExit": "keep",
                "runTransport": transport,
            }
            async with start_server([work], state_dir=state_dir, init_options=options) as h:
                code = "import time\ntime.sleep(5)\nprint(input('go? '), 'survived')\n"
                doc = open_doc(h, work / f"long_{transport}.py", code)
                h.input_answers.put_nowait({"text": "yes"})
                result = await h.command(
                    "backendai.runSelection", {"uri": doc, "range": rng(0, 0, 3, 0)}
                )
                assert result["status"] == "finished", result
                assert "survived" in h.output_text(result["runId"])
                status = await h.command("backendai.session.status", {"uri": uri(work)})
                assert status["status"] == "idle", status
                assert 0 < status["idleRemainingSeconds"] <= 2
                names.append(status["sessionName"])
                ended = [s for s in h.of("backendai/sessionStatus") if s["status"] == "terminated"]
                assert ended == [], ended
        assert names[0] == names[1]


async def test_an_upload_reports_on_the_editors_own_work_done_token(
    tmp_path: Path, state_dir: Path
) -> None:
    """Client-initiated progress (LSP): the command's ``workDoneToken`` carries begin, the
    reports and end; the server creates no token of its own for it."""
    local = tmp_path / "f.bin"
    local.write_bytes(os.urandom(9 * 1024 * 1024))
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        await h.command("backendai.vfolders.create", {"name": "tok"})
        before = set(h.client.progress_reports)
        await h.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="backendai.vfolders.upload",
                arguments=[{"name": "tok", "path": "f.bin", "localPath": str(local)}],
                work_done_token="editor-token-1",
            )
        )
        reports = h.client.progress_reports["editor-token-1"]
        assert isinstance(reports[0], types.WorkDoneProgressBegin)
        assert reports[0].title.startswith("Uploading f.bin") and not reports[0].cancellable
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        assert [r.percentage for r in reports[1:-1]][-1] == 100
        assert set(h.client.progress_reports) - before == {"editor-token-1"}
