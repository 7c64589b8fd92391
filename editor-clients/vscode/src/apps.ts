/**
 * "Open App…": choose one of the session's service ports (backendai.session.apps) and open
 * the local URL bai-lsp forwards it to (backendai.session.openApp) in the browser.
 */
import * as vscode from 'vscode';
import { AppList, Commands, OpenedApp } from './protocol';
import type { Execute } from './terminal';

const AppCommands = { list: Commands.sessionApps, open: Commands.sessionOpenApp } as const;

/** Pick an app of `uri`'s session (or take `app`) and open it; returns what was opened. */
export async function openApp(execute: Execute, uri: vscode.Uri, app?: string): Promise<OpenedApp | undefined> {
  let name = app;
  if (!name) {
    const list = await execute<AppList>(AppCommands.list, { uri: uri.toString() });
    if (!list) {
      return undefined;
    }
    if (list.apps.length === 0) {
      void vscode.window.showInformationMessage(
        `Backend.AI: session ${list.sessionName} offers no apps. Declare the ports your code listens on in the "apps" setting of bai-lsp, e.g. [{"name": "web", "port": 8000}].`,
      );
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      list.apps.map((a) => ({ label: a.name, description: `${a.protocol} · port ${a.ports.join(', ')}`, app: a })),
      { placeHolder: `Open an app of ${list.sessionName}` },
    );
    if (!pick) {
      return undefined;
    }
    name = pick.app.name;
  }
  const opened = await execute<OpenedApp>(AppCommands.open, { uri: uri.toString(), app: name });
  if (!opened) {
    return undefined;
  }
  if (opened.url.startsWith('http')) {
    await vscode.env.openExternal(vscode.Uri.parse(opened.url));
    void vscode.window.showInformationMessage(`Backend.AI: ${opened.app} of ${opened.sessionName} is open at ${opened.url}`);
  } else {
    await vscode.env.clipboard.writeText(opened.url.replace(/^tcp:\/\//, ''));
    void vscode.window.showInformationMessage(
      `Backend.AI: ${opened.app} of ${opened.sessionName} is forwarded to ${opened.url} (copied to the clipboard)`,
    );
  }
  return opened;
}
