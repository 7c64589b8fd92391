/**
 * Backend.AI in the editor rather than the browser: the session launcher (quick picks for
 * image, resource preset with what is allocatable, resource group and vfolder mounts), the
 * "Backend.AI Folders" explorer tree (browse, open, upload, download) and the lifetime
 * countdowns of the status bar (polled every 30 s, a warning 5 minutes before the end).
 *
 * Everything goes through the server's commands (docs/protocol.md "Launcher and vfolders");
 * vfolder files open read-only through the `bai-vfolder://<vfolder>/<path>` scheme.
 */

import * as vscode from 'vscode';
import { clock, describeSlots } from './launcherText';

export { clock, describeSlots };

export const LauncherCommands = {
  options: 'backendai.session.options',
  configure: 'backendai.session.configure',
  vfoldersList: 'backendai.vfolders.list',
  vfoldersFiles: 'backendai.vfolders.files',
  vfoldersUpload: 'backendai.vfolders.upload',
  vfoldersDownload: 'backendai.vfolders.download',
  vfoldersRead: 'backendai.vfolders.read',
  sessionStatus: 'backendai.session.status',
} as const;

export const VFOLDER_SCHEME = 'bai-vfolder';
export const WARN_BEFORE_S = 300;
const POLL_MS = 30000;

export interface Preset {
  name: string;
  resources: Record<string, string>;
  allocatable: boolean;
}
export interface SessionOptions {
  presets: Preset[];
  images: { ref: string; architecture?: string }[];
  resourceGroups: string[];
  vfolders: { name: string }[];
}
export interface VFolderFile {
  name: string;
  type: string;
  size: number;
  uri: string;
}
export interface StatusFacts {
  workspace: string;
  sessionName?: string;
  idleRemainingSeconds?: number;
  lifetimeRemainingSeconds?: number;
  resources?: { requested?: Record<string, string>; occupied?: Record<string, string> };
}

/** What the launcher needs from the extension. */
export interface LauncherHost {
  execute<T>(command: string, arg: object): Promise<T | undefined>;
  /** The same without any message, and only while the folder has a live session (polls). */
  quiet<T>(command: string, arg: object, folder: vscode.Uri): Promise<T | undefined>;
  /** The workspace folder a command acts on (asks when there are several). */
  folder(uri?: vscode.Uri): Promise<vscode.Uri | undefined>;
  /** The status bar shows the facts (countdowns, resources). */
  facts(f: StatusFacts): void;
}

/** The launcher's quick picks; stores the choice with backendai.session.configure. */
export async function configureSession(host: LauncherHost, uri?: vscode.Uri): Promise<unknown> {
  const folder = await host.folder(uri);
  if (!folder) {
    return undefined;
  }
  const options = await host.execute<SessionOptions>(LauncherCommands.options, { uri: folder.toString() });
  if (!options) {
    return undefined;
  }
  const image = await vscode.window.showQuickPick(
    options.images.map((i) => ({ label: i.ref, description: i.architecture })),
    { title: 'Backend.AI: image', placeHolder: 'Image of the next session' },
  );
  if (!image) {
    return undefined;
  }
  const preset = await vscode.window.showQuickPick(
    options.presets.map((p) => ({
      label: p.name,
      description: describeSlots(p.resources),
      detail: p.allocatable ? 'allocatable now' : 'not allocatable now: the backend has no room for it',
    })),
    { title: 'Backend.AI: resource preset', placeHolder: 'Resources of the next session' },
  );
  if (!preset) {
    return undefined;
  }
  let group: string | undefined = options.resourceGroups[0];
  if (options.resourceGroups.length > 1) {
    group = await vscode.window.showQuickPick(options.resourceGroups, { title: 'Backend.AI: resource group' });
    if (!group) {
      return undefined;
    }
  }
  const mounts = await vscode.window.showQuickPick(
    options.vfolders.map((v) => ({ label: v.name })),
    { title: 'Backend.AI: vfolders to mount', canPickMany: true, placeHolder: 'None selected: no vfolder' },
  );
  if (!mounts) {
    return undefined;
  }
  const answer = await host.execute<{ message: string }>(LauncherCommands.configure, {
    uri: folder.toString(),
    image: image.label,
    preset: preset.label,
    resourceGroup: group,
    mounts: mounts.map((m) => m.label),
  });
  if (answer) {
    void vscode.window.showInformationMessage(`Backend.AI: ${answer.message}`);
  }
  return answer;
}

export class FolderItem extends vscode.TreeItem {
  constructor(
    readonly vfolder: string,
    readonly path: string,
    readonly kind: 'vfolder' | 'directory' | 'file',
    label: string,
    readonly remote?: string,
    size?: number,
  ) {
    super(label, kind === 'file' ? vscode.TreeItemCollapsibleState.None : vscode.TreeItemCollapsibleState.Collapsed);
    this.contextValue = kind === 'file' ? 'baiVfolderFile' : 'baiVfolderFolder';
    this.iconPath = new vscode.ThemeIcon(kind === 'file' ? 'file' : kind === 'vfolder' ? 'cloud' : 'folder');
    if (kind === 'file' && remote) {
      this.description = size !== undefined ? `${size} B` : undefined;
      this.command = { title: 'Open', command: 'vscode.open', arguments: [vscode.Uri.parse(remote)] };
      this.resourceUri = vscode.Uri.parse(remote);
    }
  }
}

/** The "Backend.AI Folders" tree of the explorer. */
export class FoldersTree implements vscode.TreeDataProvider<FolderItem> {
  private readonly changed = new vscode.EventEmitter<FolderItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly host: LauncherHost) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(item: FolderItem): vscode.TreeItem {
    return item;
  }

  async getChildren(item?: FolderItem): Promise<FolderItem[]> {
    if (!item) {
      const list = await this.host.execute<{ vfolders: { name: string }[] }>(LauncherCommands.vfoldersList, {});
      return (list?.vfolders ?? []).map((v) => new FolderItem(v.name, '', 'vfolder', v.name));
    }
    const files = await this.host.execute<{ files: VFolderFile[] }>(LauncherCommands.vfoldersFiles, {
      name: item.vfolder,
      path: item.path,
    });
    return (files?.files ?? []).map((f) => {
      const path = item.path ? `${item.path}/${f.name}` : f.name;
      return new FolderItem(item.vfolder, path, f.type === 'directory' ? 'directory' : 'file', f.name, f.uri, f.size);
    });
  }
}

/** `bai-vfolder://` documents: read-only text from backendai.vfolders.read. */
export class VFolderContent implements vscode.TextDocumentContentProvider {
  constructor(private readonly host: LauncherHost) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const got = await this.host.execute<{ encoding: string; text?: string; size: number }>(LauncherCommands.vfoldersRead, {
      uri: uri.toString(),
    });
    if (!got) {
      return '';
    }
    return got.encoding === 'utf-8' ? (got.text ?? '') : `(binary file, ${got.size} bytes: download it to open it)`;
  }
}

/** Polls the session status of the workspace folders and feeds the status bar's countdowns. */
export class Countdowns implements vscode.Disposable {
  private timer?: NodeJS.Timeout;
  private readonly warned = new Map<string, Set<string>>();

  constructor(private readonly host: LauncherHost) {}

  start(): void {
    if (!this.timer) {
      this.timer = setInterval(() => void this.pollAll(), POLL_MS);
    }
  }

  async pollAll(): Promise<void> {
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      await this.poll(f.uri);
    }
  }

  async poll(folder: vscode.Uri, quiet = true): Promise<StatusFacts | undefined> {
    const arg = { uri: folder.toString() };
    const facts = quiet
      ? await this.host.quiet<StatusFacts>(LauncherCommands.sessionStatus, arg, folder)
      : await this.host.execute<StatusFacts>(LauncherCommands.sessionStatus, arg);
    if (facts) {
      this.record(facts);
    }
    return facts;
  }

  record(facts: StatusFacts): void {
    this.host.facts(facts);
    const warned = this.warned.get(facts.workspace) ?? new Set<string>();
    this.warned.set(facts.workspace, warned);
    for (const [kind, left] of [
      ['idle', facts.idleRemainingSeconds],
      ['lifetime', facts.lifetimeRemainingSeconds],
    ] as const) {
      if (left !== undefined && left <= WARN_BEFORE_S && !warned.has(kind)) {
        warned.add(kind);
        const why = kind === 'idle' ? 'idle for too long' : 'at its maximum lifetime';
        void vscode.window.showWarningMessage(`Backend.AI: session ${facts.sessionName ?? ''} ends in ${clock(left)} (${why}).`);
      } else if (left !== undefined && left > WARN_BEFORE_S) {
        warned.delete(kind);
      }
    }
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
  }
}

/** Registers the launcher's commands, tree and content provider. */
export function registerLauncher(host: LauncherHost): { disposables: vscode.Disposable[]; countdowns: Countdowns } {
  const tree = new FoldersTree(host);
  const countdowns = new Countdowns(host);
  const disposables: vscode.Disposable[] = [
    countdowns,
    vscode.window.registerTreeDataProvider('backendai.folders', tree),
    vscode.workspace.registerTextDocumentContentProvider(VFOLDER_SCHEME, new VFolderContent(host)),
    vscode.commands.registerCommand('bai.configureSession', (uri?: vscode.Uri) => configureSession(host, uri)),
    vscode.commands.registerCommand('bai.refreshFolders', () => tree.refresh()),
    vscode.commands.registerCommand('bai.uploadToFolder', async (item?: FolderItem, local?: vscode.Uri) => {
      if (!item) {
        return undefined;
      }
      const picked = local ? [local] : await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: 'Upload' });
      if (!picked?.[0]) {
        return undefined;
      }
      const name = picked[0].path.split('/').pop() ?? 'file';
      const done = await host.execute<{ path: string; bytes: number }>(LauncherCommands.vfoldersUpload, {
        name: item.vfolder,
        path: item.path ? `${item.path}/${name}` : name,
        localPath: picked[0].fsPath,
      });
      if (done) {
        void vscode.window.showInformationMessage(`Backend.AI: uploaded ${done.path} (${done.bytes} bytes).`);
        tree.refresh();
      }
      return done;
    }),
    vscode.commands.registerCommand('bai.downloadFromFolder', async (item?: FolderItem, local?: vscode.Uri) => {
      if (!item || item.kind !== 'file') {
        return undefined;
      }
      const target = local ?? (await vscode.window.showSaveDialog({ saveLabel: 'Download', title: `Download ${item.path}` }));
      if (!target) {
        return undefined;
      }
      const done = await host.execute<{ localPath: string }>(LauncherCommands.vfoldersDownload, {
        name: item.vfolder,
        path: item.path,
        localPath: target.fsPath,
      });
      if (done) {
        void vscode.window.showInformationMessage(`Backend.AI: downloaded ${item.path} to ${done.localPath}.`);
      }
      return done;
    }),
    vscode.commands.registerCommand('bai.pollSessionStatus', async (uri?: vscode.Uri) => {
      const folder = await host.folder(uri);
      return folder ? countdowns.poll(folder, false) : undefined;
    }),
  ];
  return { disposables, countdowns };
}
