/**
 * Terminals and apps of the session: "Open Backend.AI Terminal" (a terminal tab whose shell
 * runs in the session, terminal.ts) and "Open App…" (a forwarded service port, apps.ts).
 */

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { openApp } from '../apps';
import { TerminalManager } from '../terminal';
import { command, Feature, Host, sessionUri } from './feature';

export class TerminalsFeature implements Feature {
  private readonly terminals: TerminalManager;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: Host) {
    this.terminals = new TerminalManager(host.execute);
  }

  activate(): void {
    const d = this.disposables;
    d.push(this.terminals);
    command(d, 'bai.openTerminal', async (uri?: vscode.Uri) => {
      const target = await sessionUri(uri);
      return target ? this.terminals.open(target) : undefined;
    });
    command(d, 'bai.openApp', async (uri?: vscode.Uri, app?: string) => {
      const target = await sessionUri(uri);
      return target ? openApp(this.host.execute, target, typeof app === 'string' ? app : undefined) : undefined;
    });
  }

  attach(client: LanguageClient): void {
    this.terminals.attach(client);
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
