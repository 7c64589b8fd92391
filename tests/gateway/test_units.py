"""Pure pieces of the gateway: path confinement, resource slots, the GraphQL filter."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from graphql import GraphQLError

from bai_lsp.gateway.errors import GatewayError
from bai_lsp.gateway.gql import _FilterParser, _ordering
from bai_lsp.gateway.paths import Confinement, relative_part, validate_mounts
from bai_lsp.gateway.validation import normalize_slots


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a.txt", "a.txt"),
        ("./a/b", "a/b"),
        ("/home/work/x/y", "x/y"),
        ("/home/work", "."),
        ("a//b", "a/b"),
    ],
)
def test_relative_part_accepts(given: str, expected: str) -> None:
    assert relative_part(given) == PurePosixPath(expected)


@pytest.mark.parametrize("given", ["", "..", "../a", "a/../../b", "/etc", "/home/workx", "a\x00"])
def test_relative_part_refuses(given: str) -> None:
    with pytest.raises(GatewayError) as caught:
        relative_part(given)
    assert caught.value.problem.status == 400


def test_confinement_follows_symlinks(tmp_path: Path) -> None:
    work, vf, outside = tmp_path / "work", tmp_path / "vf", tmp_path / "outside"
    for folder in (work, vf, outside):
        folder.mkdir()
    (work / "mounted").symlink_to(vf)
    (work / "escape").symlink_to(outside)
    (work / "loop").symlink_to(work / "loop")
    box = Confinement(work, [vf])
    assert box.resolve("mounted/new.txt") == vf.resolve() / "new.txt"
    assert box.display(box.resolve("sub/x")) == "/home/work/sub/x"
    for bad in ("escape", "escape/x", "loop"):
        with pytest.raises(GatewayError):
            box.resolve(bad)


def test_mount_validation() -> None:
    assert validate_mounts(["data", "models"], {"models": "/home/work/m/models"}) == [
        ("data", PurePosixPath("data")),
        ("models", PurePosixPath("m/models")),
    ]
    for mounts, mount_map in (
        (["a", "b"], {"a": "x", "b": "x"}),
        (["a"], {"a": "/home/work"}),
        ([".."], {}),
    ):
        with pytest.raises(GatewayError):
            validate_mounts(mounts, mount_map)


def test_slots_are_normalised_like_the_manager() -> None:
    assert normalize_slots({"cpu": 2, "mem": "4g", "shmem": "64m", "cuda.shares": 0.5}) == {
        "cpu": "2",
        "mem": str(4 * 2**30),
        "shmem": str(64 * 2**20),
        "cuda.shares": "0.5",
    }
    assert normalize_slots({"mem": "1.5GiB"}) == {"mem": str(int(1.5 * 2**30))}
    assert normalize_slots({"mem": "lots"}) == {"mem": "lots"}


ROWS = [
    {"name": "alpha", "status": "RUNNING", "num_queries": 3, "tag": None},
    {"name": "beta", "status": "TERMINATED", "num_queries": 0, "tag": "gpu"},
    {"name": "gamma", "status": "RUNNING", "num_queries": 10, "tag": "gpu"},
]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('status == "RUNNING"', ["alpha", "gamma"]),
        ('status == "running"', ["alpha", "gamma"]),
        ("num_queries >= 3", ["alpha", "gamma"]),
        ('tag == "gpu" & num_queries < 5', ["beta"]),
        ('name == "alpha" | (tag == "gpu" & status != "RUNNING")', ["alpha", "beta"]),
        ('name ilike "%A"', ["alpha", "beta", "gamma"]),
        ('name like "_eta"', ["beta"]),
        ('name not like "%a%"', []),
        ("tag == null", ["alpha"]),
    ],
)
def test_filter_expressions(expr: str, names: list[str]) -> None:
    predicate = _FilterParser(expr).parse()
    assert [row["name"] for row in ROWS if predicate(row)] == names


@pytest.mark.parametrize("expr", ["name ==", "name = 'x'", "(name == 'x'", "password == 1", "== 1"])
def test_bad_filters(expr: str) -> None:
    with pytest.raises(GraphQLError):
        _FilterParser(expr).parse()


def test_ordering() -> None:
    assert _ordering(None) == [("created_at", True)]
    assert _ordering("name,-created_at") == [("name", False), ("created_at", True)]
    with pytest.raises(GraphQLError):
        _ordering("+secret")
