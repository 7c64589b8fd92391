"""The official SDKs' ResourcePreset, Image and VFolder examples against the gateway.

The scripts in tests/sdk/examples/ call the SDK's functional API exactly as a user would
(no change to the calls); each test asserts what the script prints, and for vfolders that a
session mounting the folder sees the uploaded files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, SdkRunner

pytestmark = [pytest.mark.sdk, pytest.mark.slow]


def _last_json(stdout: str) -> Any:
    # SDK 23's ScalingGroup.list_available prints the raw answer first; ours is last.
    return json.loads(stdout.strip().splitlines()[-1])


def test_resource_presets_list_check_and_resource_groups(sdk: SdkRunner) -> None:
    out = _last_json(sdk.example("resource_presets.py").check().stdout)
    names = [p["name"] for p in out["presets"]["presets"]]
    assert names[0] == "cpu01-small" and len(names) >= 3
    checked = out["checked"]
    small = next(p for p in checked["presets"] if p["name"] == "cpu01-small")
    # One CPU and 1 GiB fit on any machine that runs this suite.
    assert small["allocatable"] is True
    assert small["resource_slots"] == {"cpu": "1", "mem": str(1024**3)}
    huge = next(p for p in checked["presets"] if p["name"] == "cpu08-xlarge")
    assert huge["allocatable"] is ((os.cpu_count() or 1) >= 8)
    assert checked["keypair_limits"]["cpu"] == "Infinity"
    assert set(checked["scaling_groups"]) == {"default"}
    assert float(checked["scaling_group_remaining"]["cpu"]) <= (os.cpu_count() or 1)
    assert out["groups"] == [{"name": "default"}]


def test_image_list_shows_the_gateways_image_table(sdk: SdkRunner) -> None:
    out = _last_json(sdk.example("images.py").check().stdout)
    by_name = {image["name"]: image for image in out["images"]}
    assert {"python", "bash", "node", "c"} <= set(by_name)
    python = by_name["python"]
    assert python["registry"] == "local" and python["tag"].startswith("3.")
    assert python["architecture"]


def test_vfolder_create_upload_list_download_delete(sdk: SdkRunner, tmp_path: Path) -> None:
    name = f"data-{os.getpid()}-{sdk.flavour.name}"
    big = os.urandom(17 * 1024 * 1024 + 17)  # two tus PATCHes of the SDK's 16 MiB chunks
    (sdk.workdir / "small.txt").write_text("hello vfolder\n")
    (sdk.workdir / "big.bin").write_bytes(big)
    (sdk.workdir / "empty.txt").write_bytes(b"")
    script = str(EXAMPLES / "vfolders.py")
    run = sdk.run([str(sdk.flavour.python), script, name, "small.txt", "big.bin", "empty.txt"])
    run.check()
    out = _last_json(run.stdout)
    assert out["created"]["name"] == name
    assert name in [f["name"] for f in out["listed"]]
    items = {i["name"]: i for i in out["files"]["items"]}
    assert items["small.txt"]["size"] == 14
    assert items["big.bin"]["size"] == len(big)
    assert items["empty.txt"]["size"] == 0
    assert out["downloaded"] == {"small.txt": 14, "big.bin": len(big), "empty.txt": 0}
    got = (sdk.workdir / "downloaded" / "big.bin").read_bytes()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    assert name not in out["after"]
    assert not (sdk.data_dir / "vfolders" / name).exists()


def test_an_unknown_vfolder_is_refused_with_object_not_found(sdk: SdkRunner) -> None:
    (sdk.workdir / "a.txt").write_text("a")
    script = (
        "from ai.backend.client.session import Session\n"
        "with Session() as s:\n"
        "    s.VFolder('no-such-folder').list_files('.')\n"
    )
    out = sdk.run([str(sdk.flavour.python), "-c", script])
    assert out.returncode != 0
    assert "404" in out.stderr and "object-not-found" in out.stderr, out.describe()


def test_uploaded_file_is_seen_by_a_session_mounting_the_vfolder(sdk: SdkRunner) -> None:
    name = f"mounted-{os.getpid()}-{sdk.flavour.name}"
    (sdk.workdir / "note.txt").write_text("from the SDK\n")
    script = (
        "import sys\n"
        "from ai.backend.client.session import Session\n"
        "name = sys.argv[1]\n"
        "with Session() as s:\n"
        "    s.VFolder.create(name)\n"
        "    s.VFolder(name).upload(['note.txt'])\n"
        "    sess = s.ComputeSession.get_or_create('python', name=name + '-s', mounts=[name])\n"
        '    r = sess.execute(code=f\'print(open("{name}/note.txt").read(), end="")\')\n'
        "    print(repr(r['console']))\n"
        "    sess.destroy()\n"
        "    s.VFolder(name).delete()\n"
    )
    out = sdk.run([str(sdk.flavour.python), "-c", script, name]).check()
    assert "from the SDK" in out.stdout, out.describe()
