"""The live session in a real VS Code (code-server 4.100.3 + Playwright), issue 17.

A second extension (built here: a Python completion and hover provider, standing in for
Pylance) is installed next to ours. One run of ``vscode_harness/live.js`` types ``xs.`` and
opens the suggest widget, shows the hover, watches the "Backend.AI Variables" tree refresh
after runs, pages a DataFrame in the data preview, sees a plot in the media history and
exports the runs to a notebook that nbformat validates. Setup: ``scripts/setup/30-vscode.sh``.
Screenshots and logs land in ``test-artifacts/vscode-live/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_vscode import (
    CHROMIUM,
    CODE_SERVER,
    HARNESS,
    SERVER,
    USER_SETTINGS,
    _missing,
    _start_code_server,
    _stop,
)

DRIVER_TIMEOUT = 300
pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(DRIVER_TIMEOUT + 120)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "vscode-live"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJ"
    "RU5ErkJggg=="
)
DEMO = (
    "import json; xs = [3, 1, 2]\n"
    "xs.\n"
    "import pandas as pd; df = pd.DataFrame({'n': range(120), 'sq': [i * i for i in range(120)]})\n"
    "import base64; from IPython.display import Image, display; "
    f"display(Image(data=base64.b64decode('{PNG}')))\n"
)

OTHER_PACKAGE = {
    "name": "other-python-provider",
    "publisher": "bai-lsp-tests",
    "version": "0.0.1",
    "engines": {"vscode": "^1.100.0"},
    "main": "./extension.js",
    "activationEvents": ["onLanguage:python"],
}
OTHER_EXTENSION = """\
const vscode = require('vscode');
exports.activate = (context) => {
  context.subscriptions.push(
    vscode.languages.registerCompletionItemProvider('python', {
      provideCompletionItems: () => [new vscode.CompletionItem('from_other_provider')],
    }, '.'),
    vscode.languages.registerHoverProvider('python', {
      provideHover: () => new vscode.Hover('hover from the other provider'),
    }),
  );
};
"""
VSIX_MANIFEST = """\
<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="other-python-provider" Version="0.0.1"
              Publisher="bai-lsp-tests"/>
    <DisplayName>Other Python provider (test)</DisplayName>
    <Description xml:space="preserve">A second completion and hover provider.</Description>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="^1.100.0"/>
    </Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json"
           Addressable="true"/>
  </Assets>
</PackageManifest>
"""
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension=".json" ContentType="application/json"/>'
    '<Default Extension=".js" ContentType="application/javascript"/>'
    '<Default Extension=".vsixmanifest" ContentType="text/xml"/></Types>'
)


def other_vsix(target: Path) -> Path:
    """The stand-in for Pylance, packaged as a .vsix (a zip with a manifest)."""
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("extension.vsixmanifest", VSIX_MANIFEST)
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("extension/package.json", json.dumps(OTHER_PACKAGE))
        z.writestr("extension/extension.js", OTHER_EXTENSION)
    return target


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    missing = _missing()
    if missing:
        pytest.fail(
            "VS Code test prerequisites missing: "
            + ", ".join(missing)
            + ". Install them with: bash scripts/setup/30-vscode.sh"
        )
    base = tmp_path_factory.mktemp("vscode-live")
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    workspace = base / "workspace"
    workspace.mkdir()
    (workspace / "live.py").write_text(DEMO)
    settings_dir = base / "user-data" / "User"
    settings_dir.mkdir(parents=True)
    user = {**USER_SETTINGS, "editor.wordBasedSuggestions": "off"}
    (settings_dir / "settings.json").write_text(json.dumps(user, indent=2))
    machine_dir = base / "user-data" / "Machine"
    machine_dir.mkdir(parents=True)
    machine = {
        "backendai.server.path": str(SERVER),
        "backendai.server.args": ["-v", "--log-file", str(ARTIFACTS / "bai-lsp.log")],
        "backendai.onExit": "destroy",
    }
    (machine_dir / "settings.json").write_text(json.dumps(machine, indent=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / var.lower())
    env["HOME"] = str(base / "home")
    (base / "home").mkdir()
    subprocess.run(
        [
            str(CODE_SERVER),
            "--user-data-dir",
            str(base / "user-data"),
            "--extensions-dir",
            str(base / "extensions"),
            "--install-extension",
            str(other_vsix(base / "other.vsix")),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc, url = _start_code_server(base, env)
    results_file = base / "results.json"
    config = {
        "url": url,
        "folder": str(workspace),
        "file": "live.py",
        "artifacts": str(ARTIFACTS),
        "results": str(results_file),
        "chromium": str(CHROMIUM),
        "exportPath": str(base / "exported.ipynb"),
    }
    (base / "live.json").write_text(json.dumps(config))
    try:
        with (ARTIFACTS / "driver.log").open("w") as driver_log:
            driver = subprocess.run(
                ["node", str(HARNESS / "live.js"), str(base / "live.json")],
                cwd=HARNESS,
                env=env,
                stdout=driver_log,
                stderr=subprocess.STDOUT,
                timeout=DRIVER_TIMEOUT,
            )
    finally:
        _stop(proc)
        shutil.copy(base / "code-server.log", ARTIFACTS / "code-server.log")
    driver_text = (ARTIFACTS / "driver.log").read_text(errors="replace")
    if not results_file.exists():
        pytest.fail(f"the Playwright driver crashed (exit {driver.returncode}):\n{driver_text}")
    results: dict[str, Any] = json.loads(results_file.read_text())
    assert results.get("ok"), f"{results.get('error')}\n{driver_text[-4000:]}"
    results["exportPath"] = config["exportPath"]
    yield results


def test_completion_from_the_session_next_to_another_provider(live: dict[str, Any]) -> None:
    labels = live["steps"]["completion"]["labels"]
    assert {"append", "sort", "from_other_provider"} <= set(labels), labels


def test_hover_shows_the_session_value_next_to_another_provider(live: dict[str, Any]) -> None:
    text = live["steps"]["hover"]["text"]
    assert "xs: list" in text and "[3, 1, 2]" in text and "hover from the other provider" in text


def test_variables_view_refreshes_after_each_run(live: dict[str, Any]) -> None:
    rows = dict(live["steps"]["variables"]["rows"])
    assert rows["xs"].startswith("list [3]") and "[3, 1, 2]" in rows["xs"], rows
    assert "json" not in rows


def test_data_preview_pages_a_dataframe(live: dict[str, Any]) -> None:
    first, second = live["steps"]["preview"]["first"], live["steps"]["preview"]["second"]
    assert first["header"] == ["", "n", "sq"] and first["rows"] == 50
    assert first["where"] == "rows 1\u201350 of 120" and first["firstRow"] == ["0", "0", "0"]
    assert second["where"] == "rows 51\u2013100 of 120" and second["firstRow"] == [
        "50",
        "50",
        "2500",
    ]


def test_media_history_shows_the_plot(live: dict[str, Any]) -> None:
    shown = live["steps"]["media"]["shown"]
    assert shown[0]["src"].startswith("data:image/png;base64,")
    assert "live.py" in shown[0]["caption"]


def test_export_runs_writes_a_valid_notebook(live: dict[str, Any]) -> None:
    import nbformat

    assert "exported 3 runs" in live["steps"]["export"]["toast"]
    nb = nbformat.read(live["exportPath"], as_version=4)
    nbformat.validate(nb)
    assert [c.source.split(";")[0] for c in nb.cells] == [
        "import json",
        "import pandas as pd",
        "import base64",
    ]
    assert nb.cells[2].outputs[0]["output_type"] == "display_data"
