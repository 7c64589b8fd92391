/**
 * The live session in VS Code (docs/protocol.md, "Live session"): the "Backend.AI Variables"
 * tree view (refreshed after each run), the data preview webview (a page of a list, dict,
 * array or DataFrame), the media history panel (every image and HTML output of the run log)
 * and "Export Runs…" (a notebook or an HTML page).
 *
 * Completion and hover need nothing here: the language client registers the server's
 * completion and hover providers, and VS Code merges them with those of other extensions
 * (Pylance, Jupyter) for the same document.
 */

import * as crypto from 'crypto';
import * as vscode from 'vscode';
import { escapeHtml, Inspection, MediaEntry, mediaHtml, pageHtml, sizeText, Variable } from './liveFormat';

export const LiveCommands = {
  variables: 'backendai.session.variables',
  inspect: 'backendai.session.inspect',
  media: 'backendai.runs.media',
  export: 'backendai.runs.export',
} as const;

/** A server command that throws the server's error (a ResponseError) instead of showing it. */
export type Request = <T>(command: string, arg: object) => Promise<T>;

export const PAGE_SIZE = 50;

function nonce(): string {
  return crypto.randomBytes(16).toString('base64');
}

function webviewPage(webview: vscode.Webview, title: string, body: string, script = ''): string {
  const n = nonce();
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    "style-src 'unsafe-inline'",
    `script-src 'nonce-${n}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
table { border-collapse: collapse; font-family: var(--vscode-editor-font-family); }
th, td { border: 1px solid var(--vscode-panel-border); padding: 2px 6px; text-align: right; }
th { position: sticky; top: 0; background: var(--vscode-editor-background); }
figure { margin: 0 0 1.5em 0; }
figcaption { color: var(--vscode-descriptionForeground); font-size: 90%; }
img { max-width: 100%; background: white; }
pre { white-space: pre-wrap; }
</style></head>
<body>${body}<script nonce="${n}">${script}</script></body></html>`;
}

class VariableItem extends vscode.TreeItem {
  constructor(readonly variable: Variable) {
    super(variable.name, vscode.TreeItemCollapsibleState.None);
    const size = sizeText(variable);
    this.description = `${variable.type}${size ? ` [${size}]` : ''} ${variable.summary}`;
    this.tooltip = `${variable.name}: ${variable.type}${size ? ` [${size}]` : ''}\n${variable.summary}`;
    const paged = variable.size !== undefined || variable.shape !== undefined;
    this.contextValue = paged ? 'backendai.variable.paged' : 'backendai.variable';
    if (paged) {
      this.command = { command: 'bai.previewData', title: 'Preview Data', arguments: [variable.name] };
    }
  }
}

export class LiveViews implements vscode.TreeDataProvider<VariableItem>, vscode.Disposable {
  static readonly variablesViewId = 'backendai.variables';
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly tree: vscode.TreeView<VariableItem>;
  private readonly disposables: vscode.Disposable[] = [];
  /** The document (or folder) whose session the views show. */
  private target?: string;
  private preview?: vscode.WebviewPanel;
  /** The variable and row offset the data preview shows (its buttons page from there). */
  private previewed = { name: '', offset: 0 };
  private mediaPanel?: vscode.WebviewPanel;

  constructor(
    private readonly request: Request,
    private readonly showError: (e: unknown) => Promise<void>,
  ) {
    this.tree = vscode.window.createTreeView(LiveViews.variablesViewId, { treeDataProvider: this });
    this.disposables.push(
      this.tree,
      this.changed,
      vscode.commands.registerCommand('bai.refreshVariables', () => this.refresh()),
      vscode.commands.registerCommand('bai.previewData', (name?: unknown) => this.previewData(typeof name === 'string' ? name : undefined)),
      vscode.commands.registerCommand('bai.showMediaHistory', () => this.showMediaHistory()),
      vscode.commands.registerCommand('bai.exportRuns', () => this.exportRuns()),
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && e.document.uri.scheme === 'file' && this.tree.visible) {
          this.refresh(e.document.uri.toString());
        }
      }),
    );
  }

  dispose(): void {
    this.preview?.dispose();
    this.mediaPanel?.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }

  /** After each run: the variables changed, and so may have the media history. */
  onRunFinished(uri: string): void {
    this.refresh(uri);
    if (this.mediaPanel) {
      void this.renderMedia();
    }
  }

  refresh(uri?: string): void {
    if (uri) {
      this.target = sessionTarget(vscode.Uri.parse(uri));
    }
    this.changed.fire();
  }

  private currentTarget(): string | undefined {
    const editor = vscode.window.activeTextEditor;
    if (editor && editor.document.uri.scheme === 'file') {
      return sessionTarget(editor.document.uri, editor.document.languageId);
    }
    return this.target ?? vscode.workspace.workspaceFolders?.[0]?.uri.toString();
  }

  getTreeItem(item: VariableItem): vscode.TreeItem {
    return item;
  }

  async getChildren(): Promise<VariableItem[]> {
    const uri = this.target ?? this.currentTarget();
    if (!uri) {
      this.tree.message = 'Open a file of a workspace to see its session\'s variables.';
      return [];
    }
    try {
      const result = await this.request<{ variables: Variable[] }>(LiveCommands.variables, { uri });
      this.tree.message = result.variables.length ? undefined : 'No variables in the session yet.';
      return result.variables.map((v) => new VariableItem(v));
    } catch (e) {
      // no session, or busy: say so in the view rather than with a notification
      this.tree.message = e instanceof Error ? e.message : String(e);
      return [];
    }
  }

  // ---------------------------------------------------------------- data preview

  private async previewData(name?: string, offset = 0): Promise<void> {
    const uri = this.target ?? this.currentTarget();
    if (!uri) {
      return;
    }
    if (!name) {
      const editor = vscode.window.activeTextEditor;
      const word = editor ? editor.document.getText(editor.document.getWordRangeAtPosition(editor.selection.active)) : '';
      name = await vscode.window.showInputBox({ title: 'Preview data of the Backend.AI session', prompt: 'Variable name', value: word });
      if (!name) {
        return;
      }
    }
    let result: Inspection;
    try {
      result = await this.request<Inspection>(LiveCommands.inspect, { uri, name, offset, limit: PAGE_SIZE });
    } catch (e) {
      await this.showError(e);
      return;
    }
    if (!this.preview) {
      const panel = vscode.window.createWebviewPanel('backendai.dataPreview', `Data: ${name}`, vscode.ViewColumn.Beside, {
        enableScripts: true,
      });
      panel.onDidDispose(() => (this.preview = undefined));
      panel.webview.onDidReceiveMessage((m: { page?: number }) => {
        if (typeof m.page === 'number') {
          const { name: shown, offset: at } = this.previewed;
          void this.previewData(shown, Math.max(0, at + m.page * PAGE_SIZE));
        }
      });
      this.preview = panel;
    }
    const panel = this.preview;
    panel.title = `Data: ${name}`;
    this.previewed = { name, offset };
    const script = `const vscode = acquireVsCodeApi();
for (const [id, page] of [['prev', -1], ['next', 1]]) {
  const b = document.getElementById(id);
  if (b) b.addEventListener('click', () => vscode.postMessage({ page }));
}`;
    panel.webview.html = webviewPage(panel.webview, `Data: ${name}`, pageHtml(result, offset), script);
    panel.reveal(undefined, true);
  }

  // ---------------------------------------------------------------- media history

  private async showMediaHistory(): Promise<void> {
    if (!this.mediaPanel) {
      this.mediaPanel = vscode.window.createWebviewPanel('backendai.mediaHistory', 'Backend.AI Media History', vscode.ViewColumn.Beside, {
        enableScripts: false,
      });
      this.mediaPanel.onDidDispose(() => (this.mediaPanel = undefined));
    }
    await this.renderMedia();
    this.mediaPanel?.reveal(undefined, true);
  }

  private async renderMedia(): Promise<void> {
    const panel = this.mediaPanel;
    if (!panel) {
      return;
    }
    const folder = vscode.workspace.workspaceFolders?.length === 1 ? vscode.workspace.workspaceFolders[0].uri.toString() : undefined;
    let items: MediaEntry[];
    try {
      items = (await this.request<{ media: MediaEntry[] }>(LiveCommands.media, folder ? { uri: folder } : {})).media;
    } catch (e) {
      await this.showError(e);
      return;
    }
    panel.webview.html = webviewPage(panel.webview, 'Backend.AI Media History', mediaHtml(items));
  }

  // ---------------------------------------------------------------- export

  private async exportRuns(): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: 'Export Backend.AI runs',
      defaultUri: folder ? vscode.Uri.joinPath(folder, 'backendai-runs.ipynb') : undefined,
      filters: { 'Jupyter notebook': ['ipynb'], 'HTML page': ['html'] },
      saveLabel: 'Export',
    });
    if (!target) {
      return;
    }
    const format = target.path.endsWith('.ipynb') ? 'ipynb' : 'html';
    try {
      const done = await this.request<{ path: string; runs: number }>(LiveCommands.export, {
        format,
        path: target.fsPath,
        ...(folder ? { uri: folder.toString() } : {}),
      });
      const open = await vscode.window.showInformationMessage(`Backend.AI: exported ${done.runs} runs to ${done.path}`, 'Open');
      if (open) {
        await vscode.commands.executeCommand('vscode.open', target);
      }
    } catch (e) {
      await this.showError(e);
    }
  }
}

/**
 * Whose variables to show for a document: a Python file's session, else its workspace
 * folder's main session (the server reads variables from Python sessions only).
 */
function sessionTarget(uri: vscode.Uri, languageId?: string): string {
  const python = languageId ? languageId === 'python' : uri.path.endsWith('.py');
  if (python) {
    return uri.toString();
  }
  return (vscode.workspace.getWorkspaceFolder(uri)?.uri ?? uri).toString();
}
