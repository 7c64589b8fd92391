"""Upload (batched, limits checked first), download and list files on a live gateway."""

from __future__ import annotations

import pytest

from bai_lsp.backendai import BackendAIClient, InvalidRequestError, NotFoundError, ServerError
from bai_lsp.backendai.client import MAX_UPLOAD_BYTES

from .conftest import SessionFactory, run_rest, text_of


async def test_upload_download_and_list(
    any_client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("bash", via=any_client)
    binary = bytes(range(256)) * 100
    await any_client.upload(
        ref.ref, [("hello.txt", b"hello\n"), ("data/blob.bin", binary), ("data/deep/x.txt", b"x")]
    )
    entries = {e.filename: e for e in await any_client.list_files(ref.ref)}
    assert entries["hello.txt"].size == 6 and not entries["hello.txt"].is_dir
    assert entries["data"].is_dir and entries["data"].mode.startswith("d")
    assert entries["hello.txt"].mtime > 0
    inner = {e.filename for e in await any_client.list_files(ref.ref, "data")}
    assert inner == {"blob.bin", "deep"}

    files = await any_client.download(ref.ref, ["hello.txt", "data/blob.bin", "data/deep"])
    assert files == {
        "hello.txt": b"hello\n",
        "data/blob.bin": binary,
        "data/deep/x.txt": b"x",
    }
    # what was uploaded is what the code in the session sees
    results = await run_rest(any_client, ref.ref, "cat hello.txt; wc -c < data/blob.bin")
    assert text_of(results) == "hello\n25600\n"


async def test_more_than_twenty_files_go_in_batches(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("bash")
    files = [(f"many/f{i:02}.txt", str(i).encode()) for i in range(47)]
    await client.upload(ref.ref, files)  # 20 + 20 + 7 requests; one request would be refused
    listed = {e.filename for e in await client.list_files(ref.ref, "many")}
    assert listed == {f"f{i:02}.txt" for i in range(47)}
    got = await client.download(ref.ref, [p for p, _ in files[:12]])  # 5 + 5 + 2 requests
    assert got == dict(files[:12])


async def test_a_file_of_one_mib_is_refused_before_anything_is_sent(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("bash")
    with pytest.raises(InvalidRequestError) as caught:
        await client.upload(
            ref.ref,
            [("small.txt", b"ok"), ("big.bin", b"\0" * (MAX_UPLOAD_BYTES + 512 * 1024))],
        )
    assert caught.value.user_message == (
        "Cannot upload 'big.bin' (1.5 MiB): Backend.AI accepts only files under 1 MiB per "
        "upload; leave it out or put it in a mounted vfolder."
    )
    assert [e.filename for e in await client.list_files(ref.ref)] == []  # not even small.txt
    await client.upload(ref.ref, [("edge.bin", b"\1" * (MAX_UPLOAD_BYTES - 1))])
    assert (await client.download(ref.ref, ["edge.bin"]))["edge.bin"] == b"\1" * (
        MAX_UPLOAD_BYTES - 1
    )


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.txt", "a/../../b", "", "dir/"])
async def test_paths_outside_the_work_folder_are_refused(
    client: BackendAIClient, path: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await client.upload("any-session", [(path, b"x")])
    assert caught.value.user_message == (
        f"Cannot upload {path!r}: a file path must be relative and stay inside the "
        "session's work folder (/home/work)."
    )


async def test_download_of_a_missing_file(
    client: BackendAIClient, new_session: SessionFactory
) -> None:
    ref = await new_session("bash")
    with pytest.raises((NotFoundError, ServerError)) as caught:
        await client.download(ref.ref, ["nope.txt"])
    assert "nope.txt" in caught.value.user_message
