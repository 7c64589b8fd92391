/**
 * The connection to bai-lsp: starts (and restarts) the language client, sends it the
 * settings and the secret key, runs server commands and turns their errors into messages
 * the user can act on. Features get each new client through `attach`.
 */

import * as fs from 'fs';
import * as vscode from 'vscode';
import {
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
import type { Feature, Host } from './features/feature';
import { SECTION } from './features/feature';
import { ErrorCodes } from './protocol';
import { ensureBundledServer, InstallError, protocolMismatch, readManifest, venvServer } from './install';
import { BUNDLED_SOURCE, resolveServer, ServerNotFoundError } from './serverCommand';
import { assembleSettings, secretStorageKey, ServerSettingsObject } from './settings';

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

export class ServerConnection implements Host, vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private client?: LanguageClient;
  private starting?: Promise<LanguageClient | undefined>;
  private features: Feature[] = [];
  private secretPromptShown = false;
  private commandErrorAt = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('Backend.AI Language Server', { log: true });
  }

  readonly execute = async <T>(command: string, arg: object): Promise<T | undefined> => {
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
  };

  async request<T>(command: string, arg: object): Promise<T> {
    const client = await this.ensureClient();
    if (!client) {
      throw new Error('the Backend.AI language server is not running');
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] })) as T;
  }

  lastCommandErrorAt(): number {
    return this.commandErrorAt;
  }

  /** Registers the connection's own commands and listeners; `features` get every client. */
  async activate(features: Feature[]): Promise<void> {
    this.features = features;
    this.disposables.push(
      this.log,
      vscode.workspace.onDidChangeConfiguration((e) => this.onConfigurationChanged(e)),
      this.context.secrets.onDidChange((e) => {
        if (e.key.startsWith('backendai.secretKey:')) {
          void this.pushSettings();
        }
      }),
      vscode.commands.registerCommand('bai.setSecretKey', () => this.askSecretKey(true)),
      vscode.commands.registerCommand('bai.clearSecretKey', () => this.clearSecretKey()),
      vscode.commands.registerCommand('bai.restartServer', () => this.startClient()),
    );
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
    return accessKey ? secretStorageKey(this.userOnly('endpoint'), accessKey) : undefined;
  }

  /** What the server gets for `scope`: the settings the user set there, and the secret. */
  private async settings(scope?: vscode.Uri): Promise<ServerSettingsObject> {
    const c = this.config(scope);
    const read = (key: string, userOnly: boolean): unknown => {
      const info = c.inspect(key);
      return userOnly ? info?.globalValue : (info?.workspaceFolderValue ?? info?.workspaceValue ?? info?.globalValue);
    };
    const name = this.currentSecretKeyName();
    const secret = name ? await this.context.secrets.get(name) : undefined;
    return assembleSettings(read, secret);
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
    if (e.affectsConfiguration(`${SECTION}.server`)) {
      void vscode.window
        .showInformationMessage('Backend.AI: the server settings changed. Restart the language server now?', 'Restart')
        .then((choice) => (choice ? this.startClient() : undefined));
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
                item.section === SECTION ? this.settings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined) : results[i],
              ),
            );
          },
        },
      },
    };
    const client = new LanguageClient('backendai', 'Backend.AI', serverOptions, clientOptions);
    client.registerFeature(new InputCapabilityFeature());
    for (const feature of this.features) {
      feature.attach?.(client);
    }
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

  async showError(e: unknown): Promise<void> {
    if (!(e instanceof ResponseError)) {
      const msg = e instanceof Error ? e.message : String(e);
      void vscode.window.showErrorMessage(`Backend.AI: ${msg}`);
      return;
    }
    if (e.code === ErrorCodes.cancelled) {
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

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  async stop(): Promise<void> {
    await this.client?.stop().catch(() => undefined);
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
