/**
 * "Open Backend.AI Terminal": a real terminal tab (vscode.Pseudoterminal) whose shell runs
 * in the workspace's compute session, over bai-lsp's backendai.terminal.* commands and the
 * backendai/terminalOutput / terminalClosed notifications (docs/protocol.md).
 *
 * When the shell exits or the session ends, the reason is written into the tab and the tab
 * stays until a key is pressed, as VS Code does for tasks, so the user sees why it closed.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, LanguageClient } from 'vscode-languageclient/node';

import { Commands, Notifications, TerminalClosed, TerminalOpened, TerminalOutput } from './protocol';

const TerminalCommands = {
  open: Commands.terminalOpen,
  input: Commands.terminalInput,
  resize: Commands.terminalResize,
  close: Commands.terminalClose,
} as const;

/** The extension's command runner: shows errors to the user, `undefined` on failure. */
export type Execute = <T>(command: string, arg: object) => Promise<T | undefined>;

type Early = { data?: string; reason?: string };

/** One terminal tab. */
export class BackendAITerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  id?: string;
  sessionName?: string;
  closedReason?: string;
  private tabClosed = false;

  constructor(
    private readonly manager: TerminalManager,
    private readonly uri: vscode.Uri,
  ) {}

  async open(dims: vscode.TerminalDimensions | undefined): Promise<void> {
    this.writeEmitter.fire('\x1b[2mConnecting to the Backend.AI session…\x1b[0m\r\n');
    const opened = await this.manager.execute<TerminalOpened>(TerminalCommands.open, {
      uri: this.uri.toString(),
      cols: dims?.columns ?? 80,
      rows: dims?.rows ?? 24,
    });
    if (!opened) {
      this.closed('the terminal could not be opened');
      return;
    }
    this.id = opened.terminalId;
    this.sessionName = opened.sessionName;
    this.manager.register(this);
    if (this.tabClosed) {
      this.manager.quiet(TerminalCommands.close, { terminalId: this.id });
    }
  }

  handleInput(data: string): void {
    if (this.closedReason !== undefined) {
      this.closeEmitter.fire();
      return;
    }
    if (this.id) {
      this.manager.quiet(TerminalCommands.input, { terminalId: this.id, data });
    }
  }

  setDimensions(dims: vscode.TerminalDimensions): void {
    if (this.id && this.closedReason === undefined) {
      this.manager.quiet(TerminalCommands.resize, { terminalId: this.id, cols: dims.columns, rows: dims.rows });
    }
  }

  /** The user closed the tab. */
  close(): void {
    this.tabClosed = true;
    if (this.id && this.closedReason === undefined) {
      this.manager.quiet(TerminalCommands.close, { terminalId: this.id });
    }
  }

  output(data: string): void {
    this.writeEmitter.fire(data);
  }

  closed(reason: string): void {
    if (this.closedReason !== undefined) {
      return;
    }
    this.closedReason = reason;
    this.manager.forget(this);
    if (this.tabClosed) {
      return;
    }
    const sentence = /[.!?]$/.test(reason) ? reason : `${reason}.`;
    this.writeEmitter.fire(`\r\n\x1b[2m[Backend.AI: terminal closed: ${sentence} Press any key to close this tab.]\x1b[0m\r\n`);
    void vscode.window.showInformationMessage(`Backend.AI terminal closed: ${reason}`);
  }
}

/** The open terminals of the extension, fed by the current language client. */
export class TerminalManager implements vscode.Disposable {
  private readonly byId = new Map<string, BackendAITerminal>();
  private readonly early = new Map<string, Early[]>();
  private readonly all = new Set<BackendAITerminal>();
  private client?: LanguageClient;
  private subscriptions: vscode.Disposable[] = [];

  constructor(readonly execute: Execute) {}

  /** Listen to a (new) language client; terminals of the previous one are gone. */
  attach(client: LanguageClient): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
    for (const t of [...this.all]) {
      t.closed('the language server restarted');
    }
    this.client = client;
    this.subscriptions = [
      client.onNotification(Notifications.terminalOutput, (p: TerminalOutput) => this.onOutput(p)),
      client.onNotification(Notifications.terminalClosed, (p: TerminalClosed) => this.onClosed(p)),
    ];
  }

  /** Open a terminal tab on the session of `uri`'s workspace. */
  open(uri: vscode.Uri): vscode.Terminal {
    const pty = new BackendAITerminal(this, uri);
    this.all.add(pty);
    const terminal = vscode.window.createTerminal({
      name: 'Backend.AI',
      pty,
      iconPath: new vscode.ThemeIcon('remote'),
    });
    terminal.show();
    return terminal;
  }

  register(t: BackendAITerminal): void {
    if (!t.id) {
      return;
    }
    this.byId.set(t.id, t);
    for (const item of this.early.get(t.id) ?? []) {
      if (item.data !== undefined) {
        t.output(item.data);
      } else if (item.reason !== undefined) {
        t.closed(item.reason);
      }
    }
    this.early.delete(t.id);
  }

  forget(t: BackendAITerminal): void {
    if (t.id) {
      this.byId.delete(t.id);
    }
    this.all.delete(t);
  }

  /** A command whose failure needs no dialog (keys, sizes, close of a closing terminal). */
  quiet(command: string, arg: object): void {
    const client = this.client;
    if (!client?.isRunning()) {
      return;
    }
    client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] }).catch(() => undefined);
  }

  private onOutput(p: TerminalOutput): void {
    const t = this.byId.get(p.terminalId);
    if (t) {
      t.output(p.data);
    } else {
      this.pending(p.terminalId).push({ data: p.data });
    }
  }

  private onClosed(p: TerminalClosed): void {
    const t = this.byId.get(p.terminalId);
    if (t) {
      t.closed(p.reason);
    } else {
      this.pending(p.terminalId).push({ reason: p.reason });
    }
  }

  private pending(id: string): Early[] {
    let list = this.early.get(id);
    if (!list) {
      list = [];
      this.early.set(id, list);
      setTimeout(() => this.early.delete(id), 60_000); // never claimed: the open failed
    }
    return list;
  }

  dispose(): void {
    for (const s of this.subscriptions) {
      s.dispose();
    }
  }
}
