"""Upload / download / list, Backend.AI's limits, mounts, and the traversal corpus (§3.6)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo
from support.signed import SignedClient

from .conftest import assert_problem, create_session, unique_name


def form(*files: tuple[str, bytes]) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for name, content in files:
        data.add_field("src", content, filename=name, content_type="application/octet-stream")
    return data


async def upload(client: SignedClient, ref: str, *files: tuple[str, bytes]) -> tuple[int, Any]:
    return await client.call(
        "POST", f"/session/{ref}/upload", data=form(*files), content_type="multipart/form-data"
    )


async def download(client: SignedClient, ref: str, files: list[str]) -> dict[str, bytes]:
    """What the SDK does: GET with a JSON body, each part a tar archive."""
    async with client.request("GET", f"/session/{ref}/download", json_body={"files": files}) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("multipart/mixed")
        reader = aiohttp.MultipartReader.from_response(r)
        members: dict[str, bytes] = {}
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            with tarfile.open(fileobj=io.BytesIO(await part.read())) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        members[member.name] = extracted.read()
    return members


async def list_dir(client: SignedClient, ref: str, path: str = ".") -> list[dict[str, Any]]:
    status, body = await client.call("GET", f"/session/{ref}/files", json_body={"path": path})
    assert status == 200, body
    assert isinstance(body["files"], str)  # a JSON string, as the agent sends it
    return json.loads(body["files"])


async def shell(client: SignedClient, ref: str, command: str) -> str:
    _, body = await client.call(
        "POST", f"/session/{ref}", json_body={"mode": "query", "code": command, "runId": None}
    )
    result, out = body["result"], ""
    while True:
        out += "".join(t for kind, t in result["console"] if kind == "stdout")
        if result["status"] == "finished":
            return out
        _, body = await client.call(
            "POST",
            f"/session/{ref}",
            json_body={"mode": "continue", "code": "", "runId": result["runId"]},
        )
        result = body["result"]


@pytest.fixture
async def sess(client: SignedClient) -> str:
    name = unique_name("files")
    await create_session(client, "bash", name)
    return name


async def test_upload_list_download_round_trip(client: SignedClient, sess: str) -> None:
    status, body = await upload(
        client, sess, ("main.py", b"print(1)\n"), ("pkg/data/x.bin", b"\x00\xff")
    )
    assert (status, body) == (204, None)
    names = {e["filename"]: e for e in await list_dir(client, sess)}
    assert names["main.py"]["size"] == 9 and names["main.py"]["mode"].startswith("-rw")
    assert names["pkg"]["mode"].startswith("d")
    assert [e["filename"] for e in await list_dir(client, sess, "pkg/data")] == ["x.bin"]
    got = await download(client, sess, ["main.py", "pkg"])
    assert got == {"main.py": b"print(1)\n", "pkg/data/x.bin": b"\x00\xff"}
    assert "print(1)" in await shell(client, sess, "cat main.py")


async def test_list_query_parameter_and_abspath(client: SignedClient, sess: str) -> None:
    await upload(client, sess, ("d/f.txt", b"x"))
    status, body = await client.call("GET", f"/session/{sess}/files", params={"path": "d"})
    assert status == 200
    assert body["abspath"] == "/home/work/d"
    assert [e["filename"] for e in json.loads(body["files"])] == ["f.txt"]


async def test_download_via_post_and_repeated_query(client: SignedClient, sess: str) -> None:
    await upload(client, sess, ("a.txt", b"A"), ("b.txt", b"B"))
    async with client.request(
        "POST", f"/session/{sess}/download", params=[("files", "a.txt"), ("files", "b.txt")]
    ) as r:
        assert r.status == 200
        reader = aiohttp.MultipartReader.from_response(r)
        parts = 0
        while await reader.next() is not None:
            parts += 1
    assert parts == 2


async def test_download_single(client: SignedClient, sess: str) -> None:
    await upload(client, sess, ("one.txt", b"just me"))
    async with client.request(
        "GET", f"/session/{sess}/download_single", params={"file": "one.txt"}
    ) as r:
        assert r.status == 200 and await r.read() == b"just me"


async def test_absolute_home_work_path_is_the_session_folder(
    client: SignedClient, sess: str
) -> None:
    await upload(client, sess, ("/home/work/abs.txt", b"ok"))
    assert await download(client, sess, ["/home/work/abs.txt"]) == {"abs.txt": b"ok"}


async def test_21_files_is_too_many(client: SignedClient, sess: str) -> None:
    status, body = await upload(client, sess, *[(f"f{i}.txt", b"x") for i in range(21)])
    assert_problem(status, body, 400, "invalid-api-params")
    assert body["msg"] == "Too many files"
    assert not any(e["filename"].startswith("f") for e in await list_dir(client, sess))


async def test_20_files_is_fine(client: SignedClient, sess: str) -> None:
    status, _ = await upload(client, sess, *[(f"g{i}.txt", b"x") for i in range(20)])
    assert status == 204


async def test_1_mib_file_is_too_large(client: SignedClient, sess: str) -> None:
    status, body = await upload(client, sess, ("big.bin", b"x" * (1024 * 1024)))
    assert_problem(status, body, 400, "invalid-api-params")
    assert body["msg"] == "Too large file"
    status, _ = await upload(client, sess, ("almost.bin", b"x" * (1024 * 1024 - 1)))
    assert status == 204


async def test_upload_that_is_not_multipart(client: SignedClient, sess: str) -> None:
    status, body = await client.call("POST", f"/session/{sess}/upload", json_body={"a": 1})
    assert_problem(status, body, 400, "invalid-api-params")


async def test_more_than_five_downloads_is_refused(client: SignedClient, sess: str) -> None:
    status, body = await client.call(
        "GET", f"/session/{sess}/download", json_body={"files": [f"{i}" for i in range(6)]}
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert "Too many files" in body["msg"]


@pytest.mark.parametrize("files", [[], "a.txt", [1, 2], None])
async def test_download_bad_file_lists(client: SignedClient, sess: str, files: Any) -> None:
    status, body = await client.call("GET", f"/session/{sess}/download", json_body={"files": files})
    assert_problem(status, body, 400, "invalid-api-params")


async def test_missing_files_are_404(client: SignedClient, sess: str) -> None:
    status, body = await client.call(
        "GET", f"/session/{sess}/download", json_body={"files": ["nope.txt"]}
    )
    assert_problem(status, body, 404, "object-not-found")
    assert "nope.txt" in body["msg"]
    status, body = await client.call("GET", f"/session/{sess}/files", json_body={"path": "nope"})
    assert_problem(status, body, 404, "object-not-found")


TRAVERSAL = [
    "../escape.txt",
    "../../etc/passwd",
    "a/../../escape.txt",
    "/etc/passwd",
    "/home/work/../escape.txt",
    "/home/workshop/x",
    "./../x",
    "a\x00b",
]


@pytest.mark.parametrize("path", TRAVERSAL)
async def test_traversal_corpus_is_refused_everywhere(
    client: SignedClient, sess: str, gateway: GatewayInfo, path: str
) -> None:
    # A header cannot carry NUL: a client percent-encodes it.
    status, body = await upload(client, sess, (path.replace("\x00", "%00"), b"pwned"))
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await client.call(
        "GET", f"/session/{sess}/download", json_body={"files": [path]}
    )
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await client.call("GET", f"/session/{sess}/files", json_body={"path": path})
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await client.call(
        "GET", f"/session/{sess}/download_single", params={"file": path}
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert not any(p.name == "escape.txt" for p in gateway.data_dir.rglob("escape.txt"))


async def test_symlinks_leading_outside_are_refused(
    client: SignedClient, sess: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    await shell(
        client, sess, f"ln -s {outside} out; ln -s {outside}/secret.txt s.txt; ln -s . self"
    )
    for path in ("out/secret.txt", "s.txt", "out"):
        status, body = await client.call(
            "GET", f"/session/{sess}/download", json_body={"files": [path]}
        )
        assert_problem(status, body, 400, "invalid-api-params")
        assert "symlink" in body["msg"]
    status, body = await client.call("GET", f"/session/{sess}/files", json_body={"path": "out"})
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await upload(client, sess, ("out/new.txt", b"x"))
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await upload(client, sess, ("s.txt", b"overwrite"))
    assert_problem(status, body, 400, "invalid-api-params")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (outside / "new.txt").exists()
    # A symlink that stays inside is fine; a folder download keeps links as links.
    await upload(client, sess, ("inner/t.txt", b"in"))
    assert await download(client, sess, ["self/inner/t.txt"]) == {"t.txt": b"in"}


async def test_mounts_are_shared_vfolders(client: SignedClient, gateway: GatewayInfo) -> None:
    folder = unique_name("vf")
    one, two = unique_name(), unique_name()
    await create_session(client, "bash", one, config={"mounts": [folder]})
    await create_session(
        client,
        "bash",
        two,
        config={"mounts": [folder], "mount_map": {folder: "/home/work/data/shared"}},
    )
    assert (await upload(client, one, (f"{folder}/result.txt", b"42")))[0] == 204
    assert (gateway.data_dir / "vfolders" / folder / "result.txt").read_bytes() == b"42"
    assert await download(client, two, ["data/shared/result.txt"]) == {"result.txt": b"42"}
    assert "42" in await shell(client, two, "cat data/shared/result.txt")
    await client.call("DELETE", f"/session/{one}")
    assert (gateway.data_dir / "vfolders" / folder / "result.txt").exists()


@pytest.mark.parametrize(
    "config",
    [
        {"mounts": ["../etc"]},
        {"mounts": ["ok-name"], "mount_map": {"ok-name": "/etc/x"}},
        {"mounts": ["ok-name"], "mount_map": {"ok-name": "../x"}},
        {"mounts": ["ok-name"], "mount_map": {"other": "x"}},
        {"mounts": ["a/b"]},
    ],
)
async def test_bad_mounts_are_refused(client: SignedClient, config: dict[str, Any]) -> None:
    status, body = await client.call(
        "POST", "/session", json_body={"name": unique_name(), "image": "bash", "config": config}
    )
    assert_problem(status, body, 400, "invalid-api-params")
    assert any(k.startswith("config.") for k in body["data"])


async def test_os_errors_are_400_not_500(client: SignedClient, sess: str) -> None:
    await shell(client, sess, "ln -s loop loop; echo x > plain.txt; mkdir locked; chmod 000 locked")
    status, body = await upload(client, sess, ("plain.txt/inside.txt", b"x"))
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await upload(client, sess, ("loop", b"x"))
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await client.call(
        "GET", f"/session/{sess}/files", json_body={"path": "plain.txt"}
    )
    assert_problem(status, body, 400, "invalid-api-params")
    status, body = await upload(client, sess, ("pkg", b"x"), ("pkg/x", b"y"))
    assert_problem(status, body, 400, "invalid-api-params")
    if os.geteuid() != 0:  # root ignores permissions
        status, body = await client.call(
            "GET", f"/session/{sess}/files", json_body={"path": "locked"}
        )
        assert_problem(status, body, 400, "invalid-api-params")
        assert "Permission denied" in body["msg"]
    await shell(client, sess, "chmod 755 locked")
