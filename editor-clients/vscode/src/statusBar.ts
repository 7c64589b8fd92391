/**
 * One status bar item per workspace folder: session name and state, with a spinner and the
 * elapsed time while busy. Clicking it opens the session actions for that folder.
 *
 * Silent session death is the most confusing failure users report (field survey §3.4), so a
 * terminated or failed session stays visible with its reason in the tooltip.
 */

import * as vscode from 'vscode';
import type { SessionState, SessionStatus } from './protocol';
import type { StatusFacts } from './launcher';
import { clock, describeSlots } from './launcherText';

interface Entry {
  item: vscode.StatusBarItem;
  folder: vscode.Uri;
  label: string;
  sessionName?: string;
  status?: SessionState;
  image?: string;
  message?: string;
  busySince?: number;
  /** Countdowns as of `factsAt` (ms), and the resources the backend reports. */
  idleLeft?: number;
  lifetimeLeft?: number;
  factsAt?: number;
  requested?: Record<string, string>;
  occupied?: Record<string, string>;
}

export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => n.toString().padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

const STATE_TEXT: Record<SessionState, { icon: string; words: string }> = {
  starting: { icon: '$(loading~spin)', words: 'starting' },
  idle: { icon: '$(vm-active)', words: 'idle' },
  busy: { icon: '$(sync~spin)', words: 'busy' },
  'waiting-input': { icon: '$(comment-discussion)', words: 'waiting for input' },
  reconnecting: { icon: '$(sync~spin)', words: 'reconnecting' },
  terminated: { icon: '$(vm-outline)', words: 'terminated' },
  error: { icon: '$(error)', words: 'error' },
};

export function normaliseUri(uri: string): string {
  try {
    return vscode.Uri.parse(uri).toString();
  } catch {
    return uri;
  }
}

export class SessionStatusBar implements vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;
  private priority = 100;

  /** Creates (or refreshes) the items of the current workspace folders. */
  syncFolders(folders: readonly vscode.WorkspaceFolder[]): void {
    const wanted = new Set(folders.map((f) => f.uri.toString()));
    for (const [key, entry] of this.entries) {
      if (!wanted.has(key) && entry.status === undefined) {
        entry.item.dispose();
        this.entries.delete(key);
      }
    }
    for (const f of folders) {
      this.entry(f.uri.toString(), f.uri, folders.length > 1 ? f.name : undefined);
    }
  }

  update(p: SessionStatus): void {
    const key = normaliseUri(p.workspace);
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(key));
    const entry = this.entry(key, vscode.Uri.parse(key), (vscode.workspace.workspaceFolders?.length ?? 0) > 1 ? folder?.name : undefined);
    if (p.status === 'busy' && entry.status !== 'busy') {
      entry.busySince = Date.now();
    } else if (p.status !== 'busy' && p.status !== 'waiting-input') {
      entry.busySince = undefined;
    }
    entry.sessionName = p.sessionName;
    entry.status = p.status;
    entry.image = p.image;
    entry.message = p.message;
    this.render(entry);
    this.tick();
  }

  /** Countdowns and resources from a `backendai.session.status` answer. */
  facts(f: StatusFacts): void {
    const entry = this.entries.get(normaliseUri(f.workspace));
    if (!entry) {
      return;
    }
    entry.idleLeft = f.idleRemainingSeconds;
    entry.lifetimeLeft = f.lifetimeRemainingSeconds;
    entry.factsAt = Date.now();
    entry.requested = f.resources?.requested;
    entry.occupied = f.resources?.occupied;
    this.render(entry);
    this.tick();
  }

  /** "idle 9:41 · life 1:59:00" counted down since the last answer ("" when none). */
  private countdown(e: Entry): string {
    const since = (Date.now() - (e.factsAt ?? Date.now())) / 1000;
    const parts: string[] = [];
    if (e.idleLeft !== undefined && e.status === 'idle') {
      parts.push(`idle ${clock(e.idleLeft - since)}`);
    }
    if (e.lifetimeLeft !== undefined && e.status !== 'terminated' && e.status !== 'error') {
      parts.push(`life ${clock(e.lifetimeLeft - since)}`);
    }
    return parts.join(' · ');
  }

  /** The status last reported for the folder that contains `uri`. */
  statusFor(folder: vscode.Uri): SessionState | undefined {
    return this.entries.get(folder.toString())?.status;
  }

  private entry(key: string, folder: vscode.Uri, label: string | undefined): Entry {
    let entry = this.entries.get(key);
    if (!entry) {
      const item = vscode.window.createStatusBarItem(`backendai.session.${this.entries.size}`, vscode.StatusBarAlignment.Left, this.priority--);
      item.name = 'Backend.AI Session';
      entry = { item, folder, label: label ?? '' };
      this.entries.set(key, entry);
      this.render(entry);
      item.show();
    } else if (label !== undefined) {
      entry.label = label;
    }
    return entry;
  }

  private render(e: Entry): void {
    const prefix = e.label ? `${e.label}: ` : '';
    const item = e.item;
    item.command = { title: 'Backend.AI session actions', command: 'bai.sessionActions', arguments: [e.folder] };
    if (!e.status) {
      item.text = `$(cloud) ${prefix}Backend.AI`;
      item.tooltip = 'Backend.AI: no session yet. It starts with the first run (Ctrl+Shift+Enter). Click for actions.';
      item.backgroundColor = undefined;
      item.accessibilityInformation = { label: `${e.label ? `${e.label} — ` : ''}Backend.AI session: none yet` };
      return;
    }
    const st = STATE_TEXT[e.status] ?? { icon: '$(question)', words: e.status };
    let words = st.words;
    if ((e.status === 'busy' || e.status === 'waiting-input') && e.busySince !== undefined) {
      words += ` ${formatElapsed(Date.now() - e.busySince)}`;
    }
    const countdown = this.countdown(e);
    item.text = `${st.icon} ${prefix}${e.sessionName ?? 'session'} · ${words}${countdown ? ` · ${countdown}` : ''}`;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**Backend.AI session** \`${e.sessionName ?? ''}\`\n\n`);
    md.appendMarkdown(`- status: **${st.words}**\n`);
    if (e.image) {
      md.appendMarkdown(`- image: \`${e.image}\`\n`);
    }
    md.appendMarkdown(`- workspace: ${e.folder.fsPath}\n`);
    if (e.requested && Object.keys(e.requested).length > 0) {
      md.appendMarkdown(`- requested: ${describeSlots(e.requested)}\n`);
    }
    if (e.occupied && Object.keys(e.occupied).length > 0) {
      md.appendMarkdown(`- occupied: ${describeSlots(e.occupied)}\n`);
    }
    if (countdown) {
      md.appendMarkdown(`- ends in: ${countdown}\n`);
    }
    if (e.message) {
      md.appendMarkdown(`\n${e.message.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&')}\n`);
    }
    md.appendMarkdown('\nClick for session actions.');
    item.tooltip = md;
    item.backgroundColor =
      e.status === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : e.status === 'waiting-input'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    item.accessibilityInformation = { label: `${e.label ? `${e.label} — ` : ''}Backend.AI session ${e.sessionName ?? ''}: ${words}` };
  }

  /** Keeps a 1 s timer only while some session is busy, for the elapsed time. */
  private tick(): void {
    const anyBusy = [...this.entries.values()].some((e) => e.busySince !== undefined || this.countdown(e) !== '');
    if (anyBusy && !this.timer) {
      this.timer = setInterval(() => {
        for (const e of this.entries.values()) {
          if (e.busySince !== undefined || this.countdown(e) !== '') {
            this.render(e);
          }
        }
        this.tick();
      }, 1000);
    } else if (!anyBusy && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.entries.forEach((e) => e.item.dispose());
    this.entries.clear();
  }
}
