/**
 * The two webviews: the "Output" view in the Backend.AI panel (console of every run) and the
 * "Backend.AI Media" editor panel (images and HTML). Both keep a bounded replay log on the
 * extension side, so output that arrives while the view is closed is not lost.
 */

import * as crypto from 'crypto';
import * as vscode from 'vscode';
import type { MediaItem, MediaMessage, MediaViewEvent, OutputMessage, OutputViewEvent } from './webview/messages';

function nonce(): string {
  return crypto.randomBytes(16).toString('base64');
}

function page(webview: vscode.Webview, extensionUri: vscode.Uri, name: 'output' | 'media', body: string): string {
  const n = nonce();
  const css = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', `${name}.css`));
  const js = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'out', 'webview', `${name}.js`));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    `script-src 'nonce-${n}'`,
    "frame-src 'self'",
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}"></head>
<body>${body}<script nonce="${n}" src="${js}"></script></body></html>`;
}

/** Approximate size of a message, to bound the replay log. */
function weight(msg: OutputMessage): number {
  switch (msg.type) {
    case 'text':
      return msg.text.length + 64;
    case 'note':
      return msg.text.length + 64;
    default:
      return 128;
  }
}

const REPLAY_BUDGET = 4 * 1024 * 1024;

export class OutputView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'backendai.output';
  private view?: vscode.WebviewView;
  private ready = false;
  private replay: OutputMessage[] = [];
  private replayBytes = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly maxLines: () => number,
    private readonly onShowMedia: () => void,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'out'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    view.webview.html = page(
      view.webview,
      this.extensionUri,
      'output',
      '<div id="empty">No runs yet. Select code and press <b>Ctrl+Shift+Enter</b> (Run on Backend.AI), ' +
        'or click <b>▶ Run on Backend.AI</b> above a <code># %%</code> cell.</div><main id="log" aria-live="polite"></main>',
    );
    this.disposables.push(
      view.webview.onDidReceiveMessage((event: OutputViewEvent) => {
        if (event.type === 'ready') {
          this.ready = true;
          void view.webview.postMessage({ type: 'config', maxLines: this.maxLines() } satisfies OutputMessage);
          if (this.replay.length > 0) {
            void view.webview.postMessage({ type: 'batch', messages: this.replay } satisfies OutputMessage);
          }
        } else if (event.type === 'showMedia') {
          this.onShowMedia();
        } else if (event.type === 'openFile') {
          void vscode.window.showTextDocument(vscode.Uri.file(event.path), { preview: true });
        }
      }),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = undefined;
          this.ready = false;
        }
      }),
    );
  }

  post(msg: OutputMessage): void {
    if (msg.type === 'clear') {
      this.replay = [];
      this.replayBytes = 0;
    } else {
      this.replay.push(msg);
      this.replayBytes += weight(msg);
      while (this.replayBytes > REPLAY_BUDGET && this.replay.length > 1) {
        this.replayBytes -= weight(this.replay.shift() as OutputMessage);
      }
    }
    if (this.view && this.ready) {
      void this.view.webview.postMessage(msg);
    }
  }

  updateConfig(): void {
    if (this.view && this.ready) {
      void this.view.webview.postMessage({ type: 'config', maxLines: this.maxLines() } satisfies OutputMessage);
    }
  }

  /** Shows the view without taking the focus from the editor. */
  async reveal(): Promise<void> {
    if (this.view) {
      this.view.show(true);
      return;
    }
    const editor = vscode.window.activeTextEditor;
    await vscode.commands.executeCommand(`${OutputView.viewId}.focus`);
    if (editor) {
      await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
    }
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}

const MEDIA_BUDGET = 64 * 1024 * 1024;

export class MediaPanel implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private ready = false;
  private items: MediaItem[] = [];
  private bytes = 0;

  constructor(private readonly extensionUri: vscode.Uri) {}

  add(item: MediaItem): void {
    this.items.push(item);
    this.bytes += item.data.length;
    while ((this.bytes > MEDIA_BUDGET || this.items.length > 100) && this.items.length > 1) {
      this.bytes -= (this.items.shift() as MediaItem).data.length;
    }
    if (this.panel && this.ready) {
      void this.panel.webview.postMessage({ type: 'media', items: [item] } satisfies MediaMessage);
      if (!this.panel.visible) {
        this.panel.reveal(undefined, true);
      }
    } else if (!this.panel) {
      this.show(true);
    }
  }

  clear(): void {
    this.items = [];
    this.bytes = 0;
    if (this.panel && this.ready) {
      void this.panel.webview.postMessage({ type: 'clear' } satisfies MediaMessage);
    }
  }

  show(preserveFocus = false): void {
    if (this.panel) {
      this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      'backendai.media',
      'Backend.AI Media',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'out'), vscode.Uri.joinPath(this.extensionUri, 'media')],
      },
    );
    this.panel = panel;
    this.ready = false;
    panel.webview.html = page(
      panel.webview,
      this.extensionUri,
      'media',
      '<div id="empty">Images and HTML produced by your runs appear here.</div><main id="gallery"></main>',
    );
    panel.webview.onDidReceiveMessage((event: MediaViewEvent) => {
      if (event.type === 'ready') {
        this.ready = true;
        if (this.items.length > 0) {
          void panel.webview.postMessage({ type: 'media', items: this.items } satisfies MediaMessage);
        }
      }
    });
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.ready = false;
      }
    });
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
