/**
 * Which `bai-lsp` to start. Pure (file-system access is injected) so the resolution order is
 * unit-tested: explicit interpreter, explicit path, the workspace's `.venv` (trusted
 * workspaces only: an untrusted repository must not choose the program we execute), `PATH`.
 */

import * as path from 'path';

export interface ServerSettings {
  path: string;
  pythonPath: string;
  args: string[];
}

export interface Resolved {
  command: string;
  args: string[];
  /** Where the choice came from, for the log and error messages. */
  source: string;
}

export interface ResolveEnv {
  folders: string[];
  trusted: boolean;
  pathVar: string;
  platform: NodeJS.Platform;
  isExecutable: (file: string) => boolean;
  /** The bai-lsp of the private venv the release .vsix installs from its bundled wheels
   * (src/install.ts); it may not exist yet. Absent in a .vsix without bundled wheels. */
  bundled?: string;
}

/** `Resolved.source` of the bundled server: the caller installs it before starting it. */
export const BUNDLED_SOURCE = 'the server bundled with the extension';

export class ServerNotFoundError extends Error {}

function venvCandidates(folder: string, platform: NodeJS.Platform): string[] {
  return platform === 'win32'
    ? [path.join(folder, '.venv', 'Scripts', 'bai-lsp.exe')]
    : [path.join(folder, '.venv', 'bin', 'bai-lsp')];
}

export function findOnPath(name: string, env: ResolveEnv): string | undefined {
  const sep = env.platform === 'win32' ? ';' : ':';
  const names = env.platform === 'win32' ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  for (const dir of env.pathVar.split(sep)) {
    if (!dir) {
      continue;
    }
    for (const n of names) {
      const candidate = path.join(dir, n);
      if (env.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

export function resolveServer(settings: ServerSettings, env: ResolveEnv): Resolved {
  const extra = settings.args ?? [];
  if (settings.pythonPath.trim()) {
    return {
      command: settings.pythonPath.trim(),
      args: ['-m', 'bai_lsp', ...extra],
      source: 'backendai.server.pythonPath',
    };
  }
  if (settings.path.trim()) {
    return { command: settings.path.trim(), args: extra, source: 'backendai.server.path' };
  }
  if (env.trusted) {
    for (const folder of env.folders) {
      for (const candidate of venvCandidates(folder, env.platform)) {
        if (env.isExecutable(candidate)) {
          return { command: candidate, args: extra, source: `the workspace's .venv (${folder})` };
        }
      }
    }
  }
  if (env.bundled) {
    return { command: env.bundled, args: extra, source: BUNDLED_SOURCE };
  }
  const onPath = findOnPath('bai-lsp', env);
  if (onPath) {
    return { command: onPath, args: extra, source: 'PATH' };
  }
  throw new ServerNotFoundError(
    'The bai-lsp language server was not found on PATH' +
      (env.trusted ? " or in the workspace's .venv" : '') +
      '. Install the release .vsix (it bundles the server), or install bai-lsp yourself and set "backendai.server.path" ' +
      '(or "backendai.server.pythonPath") in your user settings.',
  );
}
