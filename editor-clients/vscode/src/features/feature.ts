/**
 * What every part of the extension is: a `Feature` registers its VS Code commands, views and
 * providers once (`activate`) and listens to each language client the extension starts
 * (`attach`; the server can be restarted). `extension.ts` lists the features; adding one
 * (a variables view, a folder explorer, an install step) is a new module and one line there.
 */

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { Execute } from '../terminal';

export const SECTION = 'backendai';

export interface Feature extends vscode.Disposable {
  activate(): void;
  attach?(client: LanguageClient): void;
}

/** What the extension shares with its features. */
export interface Host {
  readonly context: vscode.ExtensionContext;
  readonly log: vscode.LogOutputChannel;
  /** Runs a server command; a failure is shown to the user and gives `undefined`. */
  readonly execute: Execute;
  /** Runs a server command; its error (a ResponseError) is the caller's to show. */
  request<T>(command: string, arg: object): Promise<T>;
  /** Shows a command's error the way `execute` does. */
  showError(e: unknown): Promise<void>;
  /** When a command's error was last shown (so a notification about it stays quiet). */
  lastCommandErrorAt(): number;
}

/** Registers a VS Code command into `disposables`. */
export function command(disposables: vscode.Disposable[], id: string, fn: (...args: never[]) => unknown): void {
  disposables.push(vscode.commands.registerCommand(id, fn));
}

/**
 * The uri naming the session to act on: the active file when it lies in the given folder
 * (it also names the file's language), else the argument, else a chosen folder.
 */
export async function sessionUri(uri?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const active = vscode.window.activeTextEditor?.document.uri;
  if (uri instanceof vscode.Uri) {
    if (active && active.scheme === 'file' && vscode.workspace.getWorkspaceFolder(active)?.uri.toString() === uri.toString()) {
      return active;
    }
    return uri;
  }
  if (active && active.scheme === 'file') {
    return active;
  }
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 1) {
    return folders[0].uri;
  }
  if (folders.length > 1) {
    const pick = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Which folder’s Backend.AI session?' });
    return pick?.uri;
  }
  return active;
}
