/**
 * Runs and their output: the run commands (selection, cell, file, interrupt), the cell code
 * lenses, the Output view and Media panel fed by `runStarted` / `output` / `runFinished`,
 * and the input boxes that answer `backendai/input`.
 */

import * as path from 'path';
import * as vscode from 'vscode';
import type { CancellationToken, LanguageClient } from 'vscode-languageclient/node';
import { cellMarkerLines, cellTitle } from '../cells';
import { Commands, InputAnswer, InputRequest, Notifications, OutputBatch, Range, Requests, RunFinished, RunResult, RunStarted } from '../protocol';
import { MediaPanel, OutputView } from '../views';
import { command, Feature, Host, SECTION, sessionUri } from './feature';
import { failedRunText, shortId } from './texts';

interface RunInfo {
  lastSeq: number;
}

export class RunsFeature implements Feature {
  readonly output: OutputView;
  readonly media: MediaPanel;
  private readonly runs = new Map<string, RunInfo>();
  private readonly finished = new vscode.EventEmitter<string>();
  /** Fires with the document's uri when one of its runs ended (views refresh on it). */
  readonly onDidFinishRun = this.finished.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: Host) {
    this.media = new MediaPanel(host.context.extensionUri);
    this.output = new OutputView(
      host.context.extensionUri,
      () => vscode.workspace.getConfiguration(SECTION).get<number>('view.maxLines', 5000),
      () => this.media.show(),
    );
  }

  activate(): void {
    const d = this.disposables;
    d.push(
      this.output,
      this.media,
      this.finished,
      vscode.window.registerWebviewViewProvider(OutputView.viewId, this.output, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
      vscode.languages.registerCodeLensProvider([{ scheme: 'file' }, { scheme: 'untitled' }], new CellLensProvider()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`${SECTION}.view`)) {
          this.output.updateConfig();
        }
      }),
    );
    command(d, 'bai.runSelection', (uri?: vscode.Uri, range?: vscode.Range) => this.runSelection(uri, range));
    command(d, 'bai.runCell', (uri?: vscode.Uri, line?: number) => this.runCell(uri, line));
    command(d, 'bai.runFile', (uri?: vscode.Uri) => this.runFile(uri, 'query'));
    command(d, 'bai.runFileBatch', (uri?: vscode.Uri) => this.runFile(uri, 'batch'));
    command(d, 'bai.interrupt', (uri?: vscode.Uri) => this.interrupt(uri));
    command(d, 'bai.showOutput', () => this.output.reveal());
    command(d, 'bai.clearOutput', () => {
      this.output.post({ type: 'clear' });
      this.media.clear();
    });
    command(d, 'bai.showMedia', () => this.media.show());
  }

  attach(client: LanguageClient): void {
    client.onNotification(Notifications.runStarted, (p: RunStarted) => this.onRunStarted(p));
    client.onNotification(Notifications.output, (p: OutputBatch) => this.onOutput(p));
    client.onNotification(Notifications.runFinished, (p: RunFinished) => this.onRunFinished(p));
    client.onRequest(Requests.input, (p: InputRequest, token: CancellationToken) => this.onInput(p, token));
  }

  // ---------------------------------------------------------------- notifications

  private onRunStarted(p: RunStarted): void {
    this.runs.set(p.runId, { lastSeq: -1 });
    let name = p.uri;
    try {
      const uri = vscode.Uri.parse(p.uri);
      name = uri.scheme === 'file' ? vscode.workspace.asRelativePath(uri) : path.basename(uri.path);
    } catch {
      // keep the raw uri
    }
    this.output.post({
      type: 'runStarted',
      runId: p.runId,
      title: `${name} (${p.mode})`,
      detail: `session ${p.sessionName} · run ${shortId(p.runId)}${p.reattached ? ' · re-attached' : ''}`,
      time: new Date().toLocaleTimeString(),
    });
    if (vscode.workspace.getConfiguration(SECTION).get<boolean>('view.revealOnRun', true)) {
      void this.output.reveal();
    }
  }

  private onOutput(p: OutputBatch): void {
    const run = this.runs.get(p.runId);
    if (run) {
      if (p.seq !== run.lastSeq + 1 && run.lastSeq >= 0) {
        this.output.post({
          type: 'note',
          runId: p.runId,
          kind: 'warning',
          text: `⚠ ${p.seq - run.lastSeq - 1} output message(s) missing before this point`,
        });
      }
      run.lastSeq = Math.max(run.lastSeq, p.seq);
    }
    for (const r of p.records) {
      if (r.type === 'stdout' || r.type === 'stderr') {
        this.output.post({ type: 'text', runId: p.runId, stream: r.type, text: r.text ?? '' });
      } else if (r.type === 'media') {
        const mime = r.mime ?? 'application/octet-stream';
        const raw = r.data ?? '';
        const isSvg = mime === 'image/svg+xml';
        const data = isSvg ? Buffer.from(raw, 'utf8').toString('base64') : raw;
        const bytes = isSvg ? Buffer.byteLength(raw, 'utf8') : Math.floor((raw.length * 3) / 4);
        this.media.add({ runId: p.runId, caption: `run ${shortId(p.runId)} · ${mime} · ${new Date().toLocaleTimeString()}`, mime, data });
        this.output.post({
          type: 'note',
          runId: p.runId,
          kind: 'media',
          text: `▣ ${mime} (${(bytes / 1024).toFixed(1)} KB) — shown in the Backend.AI Media panel`,
        });
      } else if (r.type === 'html') {
        this.media.add({ runId: p.runId, caption: `run ${shortId(p.runId)} · HTML · ${new Date().toLocaleTimeString()}`, mime: 'text/html', data: r.data ?? '' });
        this.output.post({ type: 'note', runId: p.runId, kind: 'html', text: '▣ HTML output — shown in the Backend.AI Media panel' });
      }
    }
  }

  private onRunFinished(p: RunFinished): void {
    this.output.post({
      type: 'runFinished',
      runId: p.runId,
      status: p.status,
      exitCode: p.exitCode,
      durationMs: p.durationMs,
      outputFile: p.outputFile,
      message: p.message,
    });
    this.runs.delete(p.runId);
    this.finished.fire(p.uri);
    if (p.status === 'timeout') {
      void vscode.window.showWarningMessage(`Backend.AI: run ${shortId(p.runId)} was stopped by the backend's execution timeout.`);
    } else if (p.status === 'failed') {
      // the command's own error (if any) arrives right after: show only one message
      setTimeout(() => {
        if (Date.now() - this.host.lastCommandErrorAt() > 10000) {
          void vscode.window.showWarningMessage(failedRunText(p), 'Show Output').then((c) => (c ? this.output.reveal() : undefined));
        }
      }, 1500);
    }
  }

  private onInput(p: InputRequest, token: CancellationToken): Promise<InputAnswer | null> {
    const box = vscode.window.createInputBox();
    box.title = `Backend.AI: input for run ${shortId(p.runId)}`;
    box.prompt = p.prompt?.trim() ? p.prompt : 'The running code asks for input';
    box.placeholder = p.password
      ? 'Password (hidden). Enter sends it, Escape interrupts the run.'
      : 'Enter sends the answer, Escape interrupts the run.';
    box.password = !!p.password;
    box.ignoreFocusOut = true;
    return new Promise((resolve) => {
      let done = false;
      const finish = (value: InputAnswer | null): void => {
        if (done) {
          return;
        }
        done = true;
        subs.forEach((s) => s.dispose());
        box.dispose();
        // the server appends the answer to the run's stdout itself (docs/protocol.md)
        if (!value && !token.isCancellationRequested) {
          this.output.post({ type: 'note', runId: p.runId, kind: 'warning', text: 'Input cancelled: the run is interrupted.' });
        }
        resolve(value);
      };
      const subs = [
        box.onDidAccept(() => finish({ text: box.value })),
        box.onDidHide(() => finish(null)),
        token.onCancellationRequested(() => finish(null)),
      ];
      box.show();
    });
  }

  // ---------------------------------------------------------------- commands

  private editorFor(uri?: vscode.Uri): vscode.TextEditor | undefined {
    const active = vscode.window.activeTextEditor;
    if (!uri) {
      return active;
    }
    if (active && active.document.uri.toString() === uri.toString()) {
      return active;
    }
    return vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString());
  }

  private noEditor(): void {
    void vscode.window.showWarningMessage('Backend.AI: open a file to run first.');
  }

  private async runSelection(uri?: vscode.Uri, range?: vscode.Range): Promise<RunResult | undefined> {
    const editor = this.editorFor(uri instanceof vscode.Uri ? uri : undefined);
    if (!editor) {
      this.noEditor();
      return undefined;
    }
    const sel = range instanceof vscode.Range ? range : editor.selection;
    const lspRange: Range = {
      start: { line: sel.start.line, character: sel.start.character },
      end: { line: sel.end.line, character: sel.end.character },
    };
    return this.host.execute<RunResult>(Commands.runSelection, { uri: editor.document.uri.toString(), range: lspRange });
  }

  private async runCell(uri?: vscode.Uri, line?: number): Promise<RunResult | undefined> {
    const editor = this.editorFor(uri instanceof vscode.Uri ? uri : undefined);
    const docUri = uri instanceof vscode.Uri ? uri : editor?.document.uri;
    if (!docUri) {
      this.noEditor();
      return undefined;
    }
    const position =
      typeof line === 'number'
        ? { line, character: 0 }
        : editor
          ? { line: editor.selection.active.line, character: editor.selection.active.character }
          : { line: 0, character: 0 };
    return this.host.execute<RunResult>(Commands.runCell, { uri: docUri.toString(), position });
  }

  private async runFile(uri: vscode.Uri | undefined, mode: 'query' | 'batch'): Promise<RunResult | undefined> {
    const target = uri instanceof vscode.Uri ? uri : vscode.window.activeTextEditor?.document.uri;
    if (!target) {
      this.noEditor();
      return undefined;
    }
    if (mode === 'batch') {
      // batch mode uploads files from disk: what the user sees must be what runs
      await vscode.workspace.saveAll(false);
    }
    return this.host.execute<RunResult>(Commands.runFile, { uri: target.toString(), mode });
  }

  private async interrupt(uri?: vscode.Uri): Promise<void> {
    const target = await sessionUri(uri);
    if (target) {
      await this.host.execute(Commands.interrupt, { uri: target.toString() });
    }
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}

class CellLensProvider implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    return cellMarkerLines(document.getText()).map((line) => {
      const title = cellTitle(document.lineAt(line).text);
      return new vscode.CodeLens(new vscode.Range(line, 0, line, 0), {
        title: '▶ Run on Backend.AI',
        tooltip: title ? `Run the cell "${title}" on Backend.AI` : 'Run this cell on Backend.AI',
        command: 'bai.runCell',
        arguments: [document.uri, line],
      });
    });
  }
}
