/**
 * The live session (issue 17): the Backend.AI Variables view, the data preview, the media
 * history and *Export Runs…* (live.ts), refreshed after each run. Completion and hover
 * from the session need nothing here: the language client asks the server for them.
 */

import * as vscode from 'vscode';
import { LiveViews } from '../live';
import type { Feature, Host } from './feature';

export class LiveFeature implements Feature {
  private live?: LiveViews;
  private subscription?: vscode.Disposable;

  constructor(
    private readonly host: Host,
    private readonly runFinished: vscode.Event<string>,
  ) {}

  activate(): void {
    const live = new LiveViews(
      (c, a) => this.host.request(c, a),
      (e) => this.host.showError(e),
    );
    this.live = live;
    this.subscription = this.runFinished((uri) => live.onRunFinished(uri));
  }

  dispose(): void {
    this.subscription?.dispose();
    this.live?.dispose();
  }
}
