/**
 * "Run on Backend.AI": a VS Code client of the bai-lsp language server.
 *
 * The server does the work (sessions, runs, streaming); this extension is its connection
 * (client.ts) plus one feature per concern, each owning its commands, views and the
 * notifications it shows: runs and output, sessions and status, terminals and apps, the live
 * session's views. A new
 * feature is a module under features/ and one line in `features`.
 */

import * as vscode from 'vscode';
import { ServerConnection } from './client';
import type { Feature, Host } from './features/feature';
import { LiveFeature } from './features/live';
import { RunsFeature } from './features/runs';
import { SessionsFeature } from './features/sessions';
import { TerminalsFeature } from './features/terminals';

/** The features, in activation order; they share only the host and the events passed here. */
function features(host: Host): Feature[] {
  const runs = new RunsFeature(host);
  return [runs, new SessionsFeature(host), new TerminalsFeature(host), new LiveFeature(host, runs.onDidFinishRun)];
}

let connection: ServerConnection | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  connection = new ServerConnection(context);
  const host = connection;
  const all = features(host);
  for (const feature of all) {
    feature.activate();
  }
  context.subscriptions.push(connection, ...all);
  await connection.activate(all);
}

export async function deactivate(): Promise<void> {
  await connection?.stop();
}
