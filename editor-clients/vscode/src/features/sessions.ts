/**
 * Sessions and their status: one status bar item per workspace folder fed by
 * `sessionStatus`, the warning when a session ended (unless the server says this user
 * destroyed it), and the session commands (restart, destroy, list, actions).
 */

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { Commands, Notifications, SessionList, SessionStatus } from '../protocol';
import { Countdowns, registerLauncher } from '../launcher';
import { normaliseUri, SessionStatusBar } from '../statusBar';
import { command, Feature, Host, SECTION, sessionUri } from './feature';
import { endedSessionWarning } from './texts';

export class SessionsFeature implements Feature {
  private readonly status = new SessionStatusBar();
  private readonly lastStatus = new Map<string, string>();
  private countdowns?: Countdowns;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: Host) {}

  activate(): void {
    const d = this.disposables;
    d.push(
      this.status,
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.status.syncFolders(vscode.workspace.workspaceFolders ?? [])),
    );
    command(d, 'bai.restartSession', (uri?: vscode.Uri) => this.sessionCommand(Commands.sessionRestart, uri));
    command(d, 'bai.destroySession', (uri?: vscode.Uri) => this.sessionCommand(Commands.sessionDestroy, uri));
    command(d, 'bai.showSessions', () => this.showSessions());
    command(d, 'bai.sessionActions', (folder?: vscode.Uri) => this.sessionActions(folder));
    // the launcher (Configure Next Session, the Folders view) and the status countdowns
    const launcher = registerLauncher({
      execute: this.host.execute,
      quiet: async <T>(c: string, a: object, folder: vscode.Uri): Promise<T | undefined> => {
        const live = this.status.statusFor(folder);
        if (!live || live === 'terminated' || live === 'error') {
          return undefined;
        }
        try {
          return await this.host.request<T>(c, a);
        } catch {
          return undefined; // a background poll never interrupts the user
        }
      },
      folder: (u) => sessionUri(u),
      facts: (f) => this.status.facts(f),
    });
    d.push(...launcher.disposables);
    this.countdowns = launcher.countdowns;
    this.status.syncFolders(vscode.workspace.workspaceFolders ?? []);
  }

  attach(client: LanguageClient): void {
    client.onNotification(Notifications.sessionStatus, (p: SessionStatus) => this.onSessionStatus(p));
  }

  private onSessionStatus(p: SessionStatus): void {
    this.status.update(p);
    this.countdowns?.start();
    const key = normaliseUri(p.workspace);
    const before = this.lastStatus.get(key);
    this.lastStatus.set(key, p.status);
    const text = endedSessionWarning(p, before);
    if (!text) {
      return;
    }
    // a failing command shows the same reason right after this notification: wait for it
    // and stay quiet if it came, so the user reads it once
    setTimeout(() => {
      if (p.status === 'error' && Date.now() - this.host.lastCommandErrorAt() < 10000) {
        return;
      }
      void vscode.window.showWarningMessage(text, 'Restart Session').then((c) => {
        if (c) {
          void this.sessionCommand(Commands.sessionRestart, vscode.Uri.parse(key), false);
        }
      });
    }, 1500);
  }

  private async sessionCommand(name: string, uri?: vscode.Uri, confirm = true): Promise<void> {
    const target = await sessionUri(uri);
    if (!target) {
      return;
    }
    if (confirm) {
      const destroy = name === Commands.sessionDestroy;
      const verb = destroy ? 'Destroy' : 'Restart';
      const answer = await vscode.window.showWarningMessage(
        `${verb} the Backend.AI session of this folder? Variables in the session are lost${destroy ? ', and the session is removed from the cluster' : ''}.`,
        { modal: true },
        verb,
      );
      if (answer !== verb) {
        return;
      }
    }
    await this.host.execute(name, { uri: target.toString() });
  }

  private async showSessions(): Promise<void> {
    const result = await this.host.execute<SessionList>(Commands.sessionList, {});
    if (!result) {
      return;
    }
    if (result.sessions.length === 0) {
      void vscode.window.showInformationMessage('Backend.AI: no sessions.');
      return;
    }
    const items = result.sessions.map((s) => ({
      label: `$(vm) ${s.name}`,
      description: `${s.status} · ${s.image}`,
      detail: s.workspace ? vscode.Uri.parse(s.workspace).fsPath : undefined,
      session: s,
    }));
    const pick = await vscode.window.showQuickPick(items, { title: 'Backend.AI sessions', placeHolder: 'Pick a session for its actions' });
    if (pick?.session.workspace) {
      await this.sessionActions(vscode.Uri.parse(pick.session.workspace));
    } else if (pick) {
      void vscode.window.showInformationMessage(`Backend.AI: session ${pick.session.name} does not belong to an open folder.`);
    }
  }

  private async sessionActions(folder?: vscode.Uri): Promise<void> {
    const target = await sessionUri(folder instanceof vscode.Uri ? folder : undefined);
    const busy = target ? this.status.statusFor(target) : undefined;
    const run = (id: string, ...args: unknown[]) => () => vscode.commands.executeCommand(id, ...args);
    const items: (vscode.QuickPickItem & { run: () => unknown })[] = [
      { label: '$(run) Run File on Backend.AI', run: run('bai.runFile') },
      { label: '$(run-all) Run File on Backend.AI (batch)', run: run('bai.runFileBatch') },
      {
        label: '$(debug-stop) Interrupt',
        description: busy === 'busy' || busy === 'waiting-input' ? 'stop the running code' : undefined,
        run: run('bai.interrupt', target),
      },
      { label: '$(debug-restart) Restart Session', run: () => this.sessionCommand(Commands.sessionRestart, target) },
      { label: '$(trash) Destroy Session', run: () => this.sessionCommand(Commands.sessionDestroy, target) },
      { label: '$(output) Show Output', run: run('bai.showOutput') },
      { label: '$(file-media) Show Media Panel', run: run('bai.showMedia') },
      { label: '$(list-unordered) Show Sessions', run: () => this.showSessions() },
      { label: '$(settings-gear) Configure Next Session…', run: run('bai.configureSession', target) },
      { label: '$(gear) Open Settings', run: run('workbench.action.openSettings', SECTION) },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'Backend.AI session', placeHolder: target ? vscode.workspace.asRelativePath(target) : undefined });
    await pick?.run();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
