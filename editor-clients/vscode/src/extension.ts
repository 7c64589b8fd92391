/**
 * "Run on Backend.AI": a VS Code client of the bai-lsp language server.
 *
 * The server does the work (sessions, runs, streaming); this extension turns its
 * notifications into an output view, a media panel, per-folder status bar items and input
 * boxes, and its commands into editor commands, code lenses and key bindings.
 */

import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CancellationToken,
  ClientCapabilities,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  FeatureState,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  ServerOptions,
  StaticFeature,
  TransportKind,
} from 'vscode-languageclient/node';
import { cellMarkerLines, cellTitle } from './cells';
import {
  Commands,
  ErrorCodes,
  InputRequestParams,
  LspRange,
  Notifications,
  OutputParams,
  Requests,
  RunFinishedParams,
  RunResult,
  RunStartedParams,
  SessionListResult,
  SessionStatusParams,
} from './protocol';
import { BUNDLED_SOURCE, resolveServer, ServerNotFoundError } from './serverCommand';
import { ensureBundledServer, InstallError, protocolMismatch, readManifest, venvServer } from './install';
import { assembleSettings, RawSettings, secretStorageKey, ServerSettingsObject } from './settings';
import { normaliseUri, SessionStatusBar } from './statusBar';
import { MediaPanel, OutputView } from './views';
import { openApp } from './apps';
import { TerminalManager } from './terminal';
import { LiveViews } from './live';
import { Countdowns, registerLauncher } from './launcher';

const SECTION = 'backendai';

/** Run ids are long uuids; eight characters are enough to tell runs apart on screen. */
function shortId(runId: string): string {
  return runId.length > 12 ? runId.slice(0, 8) : runId;
}
const REQUEST_CANCELLED = -32800;

/** Declares `experimental.backendai.input` so the server sends input requests to us. */
class InputCapabilityFeature implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    experimental.backendai = { ...((experimental.backendai as object | undefined) ?? {}), input: true };
    capabilities.experimental = experimental;
  }
  initialize(): void {}
  getState(): FeatureState {
    return { kind: 'static' };
  }
  clear(): void {}
}

interface RunInfo {
  uri: string;
  mode: string;
  sessionName: string;
  lastSeq: number;
}

class Extension implements vscode.Disposable {
  private client?: LanguageClient;
  private starting?: Promise<LanguageClient | undefined>;
  private readonly log: vscode.LogOutputChannel;
  private readonly output: OutputView;
  private readonly media: MediaPanel;
  private readonly status = new SessionStatusBar();
  private countdowns?: Countdowns;
  private readonly terminals = new TerminalManager((command, arg) => this.execute(command, arg));
  private live?: LiveViews;
  private readonly runs = new Map<string, RunInfo>();
  private readonly disposables: vscode.Disposable[] = [];
  private secretPromptShown = false;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('Backend.AI Language Server', { log: true });
    this.media = new MediaPanel(context.extensionUri);
    this.output = new OutputView(
      context.extensionUri,
      () => vscode.workspace.getConfiguration(SECTION).get<number>('view.maxLines', 5000),
      () => this.media.show(),
    );
  }

  async activate(): Promise<void> {
    const ctx = this.context;
    this.disposables.push(
      this.log,
      this.output,
      this.media,
      this.status,
      this.terminals,
      vscode.window.registerWebviewViewProvider(OutputView.viewId, this.output, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
      vscode.languages.registerCodeLensProvider([{ scheme: 'file' }, { scheme: 'untitled' }], new CellLensProvider()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.status.syncFolders(vscode.workspace.workspaceFolders ?? [])),
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
      ctx.secrets.onDidChange((e) => {
        if (e.key.startsWith('backendai.secretKey:')) {
          void this.pushSettings();
        }
      }),
    );
    const command = (id: string, fn: (...args: never[]) => unknown): void => {
      this.disposables.push(vscode.commands.registerCommand(id, fn));
    };
    command('bai.runSelection', (uri?: vscode.Uri, range?: vscode.Range) => this.runSelection(uri, range));
    command('bai.runCell', (uri?: vscode.Uri, line?: number) => this.runCell(uri, line));
    command('bai.runFile', (uri?: vscode.Uri) => this.runFile(uri, 'query'));
    command('bai.runFileBatch', (uri?: vscode.Uri) => this.runFile(uri, 'batch'));
    command('bai.interrupt', (uri?: vscode.Uri) => this.interrupt(uri));
    command('bai.restartSession', (uri?: vscode.Uri) => this.sessionCommand(Commands.sessionRestart, uri));
    command('bai.destroySession', (uri?: vscode.Uri) => this.sessionCommand(Commands.sessionDestroy, uri));
    command('bai.showSessions', () => this.showSessions());
    command('bai.sessionActions', (folder?: vscode.Uri) => this.sessionActions(folder));
    command('bai.showOutput', () => this.output.reveal());
    command('bai.clearOutput', () => {
      this.output.post({ type: 'clear' });
      this.media.clear();
    });
    command('bai.showMedia', () => this.media.show());
    command('bai.setSecretKey', () => this.askSecretKey(true));
    command('bai.clearSecretKey', () => this.clearSecretKey());
    command('bai.restartServer', () => this.restartServer());
    command('bai.openTerminal', async (uri?: vscode.Uri) => {
      const target = await this.sessionUri(uri);
      return target ? this.terminals.open(target) : undefined;
    });
    command('bai.openApp', async (uri?: vscode.Uri, app?: string) => {
      const target = await this.sessionUri(uri);
      return target ? openApp((c, a) => this.execute(c, a), target, typeof app === 'string' ? app : undefined) : undefined;
    });
    const launcher = registerLauncher({
      execute: (c, a) => this.execute(c, a),
      folder: (u) => this.sessionUri(u),
      facts: (f) => this.status.facts(f),
    });
    this.disposables.push(...launcher.disposables);
    this.countdowns = launcher.countdowns;

    this.live = new LiveViews(
      (c, a) => this.request(c, a),
      (e) => this.showError(e),
    );
    this.disposables.push(this.live);

    this.status.syncFolders(vscode.workspace.workspaceFolders ?? []);
    await this.ensureClient();
  }

  // ---------------------------------------------------------------- settings and secrets

  private config(scope?: vscode.Uri): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION, scope ?? null);
  }

  /** A machine/application setting from user settings only, never from the workspace. */
  private userOnly(key: string): string {
    const info = this.config().inspect<string>(key);
    const v = info?.globalValue ?? info?.defaultValue ?? '';
    return typeof v === 'string' ? v : '';
  }

  private currentSecretKeyName(): string | undefined {
    const accessKey = this.userOnly('accessKey');
    if (!accessKey) {
      return undefined;
    }
    return secretStorageKey(this.userOnly('endpoint'), accessKey);
  }

  private async settings(scope?: vscode.Uri): Promise<ServerSettingsObject> {
    const c = this.config(scope);
    const raw: RawSettings = {
      endpoint: this.userOnly('endpoint'),
      endpointType: this.userOnly('endpointType'),
      accessKey: this.userOnly('accessKey'),
      domain: c.get<string>('domain', 'default'),
      group: c.get<string>('group', 'default'),
      image: c.get<string>('image', ''),
      images: c.get<Record<string, string>>('images', {}),
      resources: c.get<Record<string, unknown>>('resources', {}),
      mounts: c.get<string[]>('mounts', []),
      environ: c.get<Record<string, string>>('environ', {}),
      sessionName: c.get<string>('sessionName', ''),
      onExit: c.get<string>('onExit', 'keep'),
      batch: c.get<Record<string, unknown>>('batch', {}),
      maxBytesPerRun: c.get<number>('output.maxBytesPerRun', 10485760),
      flushIntervalMs: c.get<number>('output.flushIntervalMs', 16),
      apps: c.get<Array<Record<string, unknown>>>('apps', []),
    };
    const name = this.currentSecretKeyName();
    const secret = name ? await this.context.secrets.get(name) : undefined;
    return assembleSettings(raw, secret);
  }

  /** Asks for the secret key once, when a keypair is configured but no secret is stored. */
  private async maybeAskSecretKey(): Promise<void> {
    const name = this.currentSecretKeyName();
    if (!name || this.userOnly('endpointType') === 'session' || this.secretPromptShown) {
      return;
    }
    if ((await this.context.secrets.get(name)) || process.env.BACKEND_SECRET_KEY) {
      return;
    }
    this.secretPromptShown = true;
    await this.askSecretKey(false);
  }

  private async askSecretKey(explicit: boolean): Promise<void> {
    const name = this.currentSecretKeyName();
    if (!name) {
      const open = await vscode.window.showWarningMessage(
        'Set "backendai.accessKey" (and "backendai.endpoint") in your user settings first.',
        'Open Settings',
      );
      if (open) {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'backendai.accessKey');
      }
      return;
    }
    const value = await vscode.window.showInputBox({
      title: 'Backend.AI secret key',
      prompt: `Secret key for access key ${this.userOnly('accessKey')} at ${this.userOnly('endpoint') || 'BACKEND_ENDPOINT'}. It is kept in VS Code's secret storage.`,
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : 'The secret key cannot be empty.'),
    });
    if (value === undefined) {
      if (explicit) {
        void vscode.window.showInformationMessage('Backend.AI: secret key unchanged.');
      }
      return;
    }
    await this.context.secrets.store(name, value.trim());
    void vscode.window.showInformationMessage('Backend.AI: secret key saved in secret storage.');
  }

  private async clearSecretKey(): Promise<void> {
    const name = this.currentSecretKeyName();
    if (name) {
      await this.context.secrets.delete(name);
    }
    void vscode.window.showInformationMessage('Backend.AI: secret key forgotten.');
  }

  private async pushSettings(): Promise<void> {
    if (this.client?.isRunning()) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    }
  }

  private onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) {
      return;
    }
    this.log.info('Backend.AI settings changed');
    if (e.affectsConfiguration(`${SECTION}.view`)) {
      this.output.updateConfig();
    }
    if (e.affectsConfiguration(`${SECTION}.server`)) {
      void vscode.window
        .showInformationMessage('Backend.AI: the server settings changed. Restart the language server now?', 'Restart')
        .then((choice) => (choice ? this.restartServer() : undefined));
      return;
    }
    if (e.affectsConfiguration(`${SECTION}.accessKey`) || e.affectsConfiguration(`${SECTION}.endpoint`)) {
      this.secretPromptShown = false;
      void this.maybeAskSecretKey().then(() => this.pushSettings());
    }
    // other keys reach the server through synchronize.configurationSection
  }

  // ---------------------------------------------------------------- the language client

  private async ensureClient(): Promise<LanguageClient | undefined> {
    if (this.client?.isRunning()) {
      return this.client;
    }
    if (!this.starting) {
      this.starting = this.startClient().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async startClient(): Promise<LanguageClient | undefined> {
    if (this.client) {
      const old = this.client;
      this.client = undefined;
      await old.dispose().catch(() => undefined);
    }
    await this.maybeAskSecretKey();
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    let resolved;
    try {
      resolved = resolveServer(
        {
          path: this.userOnly('server.path'),
          pythonPath: this.userOnly('server.pythonPath'),
          args: this.config().inspect<string[]>('server.args')?.globalValue ?? [],
        },
        {
          folders,
          trusted: vscode.workspace.isTrusted,
          pathVar: process.env.PATH ?? '',
          platform: process.platform,
          bundled: this.bundledServerPath(),
          isExecutable: (file) => {
            try {
              fs.accessSync(file, fs.constants.X_OK);
              return fs.statSync(file).isFile();
            } catch {
              return false;
            }
          },
        },
      );
    } catch (e) {
      if (e instanceof ServerNotFoundError) {
        this.log.error(e.message);
        void vscode.window.showErrorMessage(`Backend.AI: ${e.message}`, 'Open Settings').then((c) => {
          if (c) {
            void vscode.commands.executeCommand('workbench.action.openSettings', 'backendai.server');
          }
        });
        return undefined;
      }
      throw e;
    }
    if (resolved.source === BUNDLED_SOURCE) {
      const command = await this.installBundledServer();
      if (!command) {
        return undefined;
      }
      resolved = { ...resolved, command };
    }
    this.log.info(`starting ${resolved.command} ${resolved.args.join(' ')} (from ${resolved.source})`);
    const serverOptions: ServerOptions = {
      command: resolved.command,
      args: resolved.args,
      transport: TransportKind.stdio,
      options: { env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const firstFolder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      synchronize: { configurationSection: SECTION },
      initializationOptions: await this.settings(firstFolder),
      outputChannel: this.log,
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const results = await next(params, token);
            if (!Array.isArray(results)) {
              return results;
            }
            return Promise.all(
              params.items.map(async (item, i) =>
                item.section === SECTION
                  ? this.settings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
                  : results[i],
              ),
            );
          },
        },
      },
    };
    const client = new LanguageClient('backendai', 'Backend.AI', serverOptions, clientOptions);
    client.registerFeature(new InputCapabilityFeature());
    client.onNotification(Notifications.runStarted, (p: RunStartedParams) => this.onRunStarted(p));
    client.onNotification(Notifications.output, (p: OutputParams) => this.onOutput(p));
    client.onNotification(Notifications.runFinished, (p: RunFinishedParams) => this.onRunFinished(p));
    client.onNotification(Notifications.sessionStatus, (p: SessionStatusParams) => this.onSessionStatus(p));
    client.onRequest(Requests.input, (p: InputRequestParams, token: CancellationToken) => this.onInput(p, token));
    this.terminals.attach(client);
    this.client = client;
    try {
      await client.start();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.log.error(`the language server did not start: ${msg}`);
      void vscode.window
        .showErrorMessage(`Backend.AI: the language server (${resolved.command}) did not start: ${msg}`, 'Show Log')
        .then((c) => (c ? this.log.show() : undefined));
      return undefined;
    }
    const mismatch = protocolMismatch(client.initializeResult, this.context.extension.packageJSON.version);
    if (mismatch) {
      this.log.warn(mismatch);
      void vscode.window.showWarningMessage(`Backend.AI: ${mismatch}`);
    }
    return client;
  }

  /** Where the bundled server is (or will be) installed; undefined without bundled wheels. */
  private bundledServerPath(): string | undefined {
    const manifest = readManifest(this.context.extensionPath);
    return manifest ? venvServer(this.context.globalStorageUri.fsPath, manifest, process.platform) : undefined;
  }

  /** First run: the private venv from the bundled wheels, with a progress notification. */
  private async installBundledServer(): Promise<string | undefined> {
    const manifest = readManifest(this.context.extensionPath);
    if (!manifest) {
      return undefined;
    }
    try {
      return await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Backend.AI: setting up the language server' },
        (progress) =>
          ensureBundledServer(this.context.extensionPath, this.context.globalStorageUri.fsPath, manifest, {
            selectedPython: () => selectedPython(),
            progress: (message) => progress.report({ message }),
            log: (line) => this.log.info(line),
          }),
      );
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.log.error(message);
      const choice = await vscode.window.showErrorMessage(
        e instanceof InstallError ? message : `Backend.AI: installing the language server failed: ${message}`,
        'Open Settings',
        'Show Log',
      );
      if (choice === 'Open Settings') {
        void vscode.commands.executeCommand('workbench.action.openSettings', 'backendai.server');
      } else if (choice === 'Show Log') {
        this.log.show();
      }
      return undefined;
    }
  }

  private async restartServer(): Promise<void> {
    await this.startClient();
  }

  /** Runs a server command; its error (a ResponseError) is the caller's to show. */
  private async request<T>(command: string, arg: object): Promise<T> {
    const client = await this.ensureClient();
    if (!client) {
      throw new Error('the Backend.AI language server is not running');
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] })) as T;
  }

  /** Runs a server command; turns its errors into messages the user can act on. */
  private async execute<T>(command: string, arg: object): Promise<T | undefined> {
    const client = await this.ensureClient();
    if (!client) {
      return undefined;
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] })) as T;
    } catch (e) {
      await this.showError(e);
      return undefined;
    }
  }

  private async showError(e: unknown): Promise<void> {
    if (!(e instanceof ResponseError)) {
      const msg = e instanceof Error ? e.message : String(e);
      void vscode.window.showErrorMessage(`Backend.AI: ${msg}`);
      return;
    }
    if (e.code === REQUEST_CANCELLED) {
      return;
    }
    this.commandErrorAt = Date.now();
    const text = `Backend.AI: ${e.message}`;
    if (e.code === ErrorCodes.noSession) {
      void vscode.window.showInformationMessage(text);
      return;
    }
    const actions: string[] = [];
    if (e.code === ErrorCodes.credentialsRefused) {
      actions.push('Set Secret Key…', 'Open Settings');
    } else if (e.code === ErrorCodes.backendUnreachable || e.code === ErrorCodes.invalidSettings) {
      actions.push('Open Settings');
    }
    const choice = await vscode.window.showErrorMessage(text, ...actions);
    if (choice === 'Set Secret Key…') {
      await this.askSecretKey(true);
    } else if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', SECTION);
    }
  }

  // ---------------------------------------------------------------- notifications and requests

  private onRunStarted(p: RunStartedParams): void {
    this.runs.set(p.runId, { uri: p.uri, mode: p.mode, sessionName: p.sessionName, lastSeq: -1 });
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
      detail: `session ${p.sessionName} · run ${shortId(p.runId)}`,
      time: new Date().toLocaleTimeString(),
    });
    if (this.config().get<boolean>('view.revealOnRun', true)) {
      void this.output.reveal();
    }
  }

  private onOutput(p: OutputParams): void {
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
        this.output.post({ type: 'text', runId: p.runId, stream: r.type, text: r.text });
      } else if (r.type === 'media') {
        const isSvg = r.mime === 'image/svg+xml';
        const data = isSvg ? Buffer.from(r.data, 'utf8').toString('base64') : r.data;
        const bytes = isSvg ? Buffer.byteLength(r.data, 'utf8') : Math.floor((r.data.length * 3) / 4);
        this.media.add({ runId: p.runId, caption: `run ${shortId(p.runId)} · ${r.mime} · ${new Date().toLocaleTimeString()}`, mime: r.mime, data });
        this.output.post({
          type: 'note',
          runId: p.runId,
          kind: 'media',
          text: `▣ ${r.mime} (${(bytes / 1024).toFixed(1)} KB) — shown in the Backend.AI Media panel`,
        });
      } else if (r.type === 'html') {
        this.media.add({ runId: p.runId, caption: `run ${shortId(p.runId)} · HTML · ${new Date().toLocaleTimeString()}`, mime: 'text/html', data: r.data });
        this.output.post({ type: 'note', runId: p.runId, kind: 'html', text: '▣ HTML output — shown in the Backend.AI Media panel' });
      }
    }
  }

  private onRunFinished(p: RunFinishedParams): void {
    this.output.post({
      type: 'runFinished',
      runId: p.runId,
      status: p.status,
      exitCode: p.exitCode,
      durationMs: p.durationMs,
      outputFile: p.outputFile,
    });
    this.runs.delete(p.runId);
    this.live?.onRunFinished(p.uri);
    if (p.status === 'timeout') {
      void vscode.window.showWarningMessage(`Backend.AI: run ${shortId(p.runId)} was stopped by the backend's execution timeout.`);
    } else if (p.status === 'failed') {
      // the command's own error (if any) arrives right after: show only one message
      const runId = p.runId;
      setTimeout(() => {
        if (Date.now() - this.commandErrorAt > 10000) {
          void vscode.window
            .showWarningMessage(`Backend.AI: run ${shortId(runId)} could not finish; the output view shows what the backend said.`, 'Show Output')
            .then((c) => (c ? this.output.reveal() : undefined));
        }
      }, 1500);
    }
  }

  private lastStatus = new Map<string, string>();
  /** When a command error was last shown. */
  private commandErrorAt = 0;

  private onSessionStatus(p: SessionStatusParams): void {
    this.status.update(p);
    this.countdowns?.start();
    const key = normaliseUri(p.workspace);
    const before = this.lastStatus.get(key);
    this.lastStatus.set(key, p.status);
    // the user's own destroy is no news (the server says so: no guessing from timing)
    const requested = p.status === 'terminated' && p.reason === 'destroyed-by-user';
    if (requested || before === p.status) {
      return;
    }
    if (p.status === 'error' || (p.status === 'terminated' && before && before !== 'terminated')) {
      // a failing command shows the same reason right after this notification: wait for it
      // and stay quiet if it came, so the user reads it once
      setTimeout(() => {
        if (p.status === 'error' && Date.now() - this.commandErrorAt < 10000) {
          return;
        }
        const text = `Backend.AI session ${p.sessionName} ${p.status === 'error' ? 'failed' : 'was terminated'}${p.message ? `: ${p.message}` : '.'}`;
        void vscode.window.showWarningMessage(text, 'Restart Session').then((c) => {
          if (c) {
            void this.sessionCommand(Commands.sessionRestart, vscode.Uri.parse(key), false);
          }
        });
      }, 1500);
    }
  }

  private onInput(p: InputRequestParams, token: CancellationToken): Promise<{ text: string } | null> {
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
      const finish = (value: { text: string } | null): void => {
        if (done) {
          return;
        }
        done = true;
        subs.forEach((d) => d.dispose());
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
    const lspRange: LspRange = {
      start: { line: sel.start.line, character: sel.start.character },
      end: { line: sel.end.line, character: sel.end.character },
    };
    return this.execute<RunResult>(Commands.runSelection, { uri: editor.document.uri.toString(), range: lspRange });
  }

  private async runCell(uri?: vscode.Uri, line?: number): Promise<RunResult | undefined> {
    const editor = this.editorFor(uri instanceof vscode.Uri ? uri : undefined);
    const docUri = uri instanceof vscode.Uri ? uri : editor?.document.uri;
    if (!docUri) {
      this.noEditor();
      return undefined;
    }
    const position = typeof line === 'number' ? { line, character: 0 } : editor ? { line: editor.selection.active.line, character: editor.selection.active.character } : { line: 0, character: 0 };
    return this.execute<RunResult>(Commands.runCell, { uri: docUri.toString(), position });
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
    return this.execute<RunResult>(Commands.runFile, { uri: target.toString(), mode });
  }

  /**
   * The uri naming the session to act on: the active file when it lies in the given folder
   * (it also names the file's language), else the argument, else a chosen folder.
   */
  private async sessionUri(uri?: vscode.Uri): Promise<vscode.Uri | undefined> {
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

  private async interrupt(uri?: vscode.Uri): Promise<void> {
    const target = await this.sessionUri(uri);
    if (target) {
      await this.execute(Commands.interrupt, { uri: target.toString() });
    }
  }

  private async sessionCommand(command: string, uri?: vscode.Uri, confirm = true): Promise<void> {
    const target = await this.sessionUri(uri);
    if (!target) {
      return;
    }
    if (confirm) {
      const destroy = command === Commands.sessionDestroy;
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
    await this.execute(command, { uri: target.toString() });
  }

  private async showSessions(): Promise<void> {
    const result = await this.execute<SessionListResult>(Commands.sessionList, {});
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
    const target = await this.sessionUri(folder instanceof vscode.Uri ? folder : undefined);
    const busy = target ? this.status.statusFor(target) : undefined;
    const items: (vscode.QuickPickItem & { run: () => unknown })[] = [
      { label: '$(run) Run File on Backend.AI', run: () => this.runFile(undefined, 'query') },
      { label: '$(run-all) Run File on Backend.AI (batch)', run: () => this.runFile(undefined, 'batch') },
      {
        label: '$(debug-stop) Interrupt',
        description: busy === 'busy' || busy === 'waiting-input' ? 'stop the running code' : undefined,
        run: () => this.interrupt(target),
      },
      { label: '$(debug-restart) Restart Session', run: () => this.sessionCommand(Commands.sessionRestart, target) },
      { label: '$(trash) Destroy Session', run: () => this.sessionCommand(Commands.sessionDestroy, target) },
      { label: '$(output) Show Output', run: () => this.output.reveal() },
      { label: '$(file-media) Show Media Panel', run: () => this.media.show() },
      { label: '$(list-unordered) Show Sessions', run: () => this.showSessions() },
      { label: '$(settings-gear) Configure Next Session…', run: () => vscode.commands.executeCommand('bai.configureSession', target) },
      { label: '$(gear) Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', SECTION) },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'Backend.AI session', placeHolder: target ? vscode.workspace.asRelativePath(target) : undefined });
    await pick?.run();
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  async stop(): Promise<void> {
    await this.client?.stop().catch(() => undefined);
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

/** The interpreter the Python extension has selected, when it is installed and has one. */
async function selectedPython(): Promise<string | undefined> {
  const python = vscode.extensions.getExtension('ms-python.python');
  if (!python) {
    return undefined;
  }
  const api = (python.isActive ? python.exports : await python.activate()) as
    | { environments?: { getActiveEnvironmentPath?: (resource?: vscode.Uri) => { path?: string } } }
    | undefined;
  const env = api?.environments?.getActiveEnvironmentPath?.(vscode.workspace.workspaceFolders?.[0]?.uri);
  return env?.path && env.path !== 'python' ? env.path : undefined;
}

let extension: Extension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new Extension(context);
  context.subscriptions.push(extension);
  await extension.activate();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
}
