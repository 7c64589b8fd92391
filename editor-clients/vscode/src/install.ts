/**
 * The server the release .vsix carries: bai-lsp and its dependencies as wheels in
 * `bundled/wheels` (scripts/release.sh), installed on first use into a private venv in the
 * extension's global storage with the user's Python, from those wheels only (no network).
 *
 * Pure parts (candidate order, version parsing, messages) are exported for the unit tests;
 * the rest runs processes.
 */

import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** The editor ⇄ server protocol version this extension speaks (docs/protocol.md, "Versions"). */
export const PROTOCOL_VERSION = 1;
export const MIN_PYTHON: [number, number] = [3, 11];

/** bundled/wheels/manifest.json, written by scripts/release.sh. */
export interface BundleManifest {
  version: string;
  /** major.minor of the Python the binary wheels were built for */
  python: string;
  platform: string;
  pip: string;
}

export interface PythonFound {
  command: string;
  version: [number, number];
  executable: string;
}

export class InstallError extends Error {}

export function readManifest(extensionPath: string): BundleManifest | undefined {
  try {
    const text = fs.readFileSync(path.join(extensionPath, 'bundled', 'wheels', 'manifest.json'), 'utf8');
    return JSON.parse(text) as BundleManifest;
  } catch {
    return undefined;
  }
}

function binDir(venv: string, platform: NodeJS.Platform): string {
  return platform === 'win32' ? path.join(venv, 'Scripts') : path.join(venv, 'bin');
}

/** The venv of one bundled version: a new release gets a fresh venv next to the old one. */
export function venvDir(storage: string, manifest: BundleManifest): string {
  return path.join(storage, 'server', `bai-lsp-${manifest.version}-py${manifest.python}`);
}

export function venvServer(storage: string, manifest: BundleManifest, platform: NodeJS.Platform): string {
  return path.join(binDir(venvDir(storage, manifest), platform), platform === 'win32' ? 'bai-lsp.exe' : 'bai-lsp');
}

/** Interpreters to try, best first: the Python extension's choice, the bundle's version, newer, any. */
export function pythonCandidates(manifest: BundleManifest, selected: string | undefined, platform: NodeJS.Platform): string[] {
  const names = platform === 'win32'
    ? ['py', 'python']
    : [`python${manifest.python}`, 'python3.13', 'python3.12', 'python3.11', 'python3', 'python'];
  return [...(selected ? [selected] : []), ...names.filter((n, i) => names.indexOf(n) === i)];
}

/** "3 11 /usr/bin/python3.11" → the version and the executable. */
export function parseProbe(output: string): { version: [number, number]; executable: string } | undefined {
  const m = /^(\d+) (\d+) (.+)$/m.exec(output.trim());
  return m ? { version: [Number(m[1]), Number(m[2])], executable: m[3] } : undefined;
}

export function newEnough(version: [number, number]): boolean {
  return version[0] > MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] >= MIN_PYTHON[1]);
}

/** Of the interpreters that run, the one to use: the bundle's minor version (its binary wheels
 * fit), else the first one new enough; undefined names what was tried. */
export function choosePython(found: PythonFound[], manifest: BundleManifest): PythonFound | undefined {
  const usable = found.filter((p) => newEnough(p.version));
  return usable.find((p) => p.version.join('.') === manifest.python) ?? usable[0];
}

export function noPythonMessage(tried: string[]): string {
  return (
    `Backend.AI needs Python ${MIN_PYTHON.join('.')} or newer to run its language server, and found none ` +
    `(${tried.join('; ')}). Install Python ${MIN_PYTHON.join('.')}+ (with its venv module), select it with ` +
    '"Python: Select Interpreter", or set "backendai.server.path" to a bai-lsp you installed.'
  );
}

/** The warning to show when the server speaks another protocol version, else undefined. */
export function protocolMismatch(initializeResult: unknown, extensionVersion: string): string | undefined {
  const result = initializeResult as
    | { capabilities?: { experimental?: { backendai?: { protocolVersion?: unknown } } }; serverInfo?: { version?: string } }
    | undefined;
  const theirs = result?.capabilities?.experimental?.backendai?.protocolVersion;
  if (theirs === PROTOCOL_VERSION) {
    return undefined;
  }
  const server = result?.serverInfo?.version ?? '(unknown version)';
  return (
    `The bai-lsp server ${server} speaks protocol version ${theirs ?? '(none)'}, this extension ` +
    `${extensionVersion} speaks ${PROTOCOL_VERSION}: some commands may fail. Use the server bundled ` +
    'with the extension (clear "backendai.server.path") or install the matching bai-lsp.'
  );
}

function run(command: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}${err && code === -1 ? err.message : ''}` });
    });
  });
}

export interface InstallHooks {
  /** The Python extension's selected interpreter, when there is one. */
  selectedPython: () => Promise<string | undefined>;
  progress: (message: string) => void;
  log: (line: string) => void;
}

/** Probes the candidates; returns what runs (and a description of every candidate). */
async function probePythons(candidates: string[], platform: NodeJS.Platform): Promise<{ found: PythonFound[]; tried: string[] }> {
  const found: PythonFound[] = [];
  const tried: string[] = [];
  for (const command of candidates) {
    const args = command === 'py' && platform === 'win32' ? ['-3'] : [];
    const probe = await run(command, [...args, '-c', 'import sys; print(*sys.version_info[:2], sys.executable)'], 20000);
    const parsed = probe.code === 0 ? parseProbe(probe.out) : undefined;
    if (!parsed) {
      tried.push(`${command}: not found`);
      continue;
    }
    tried.push(`${command}: ${parsed.version.join('.')}`);
    found.push({ command, ...parsed });
  }
  return { found, tried };
}

/**
 * The bundled server, installed if needed: returns the venv's bai-lsp. Throws InstallError
 * with a message for the user when no suitable Python exists or installing fails.
 */
export async function ensureBundledServer(
  extensionPath: string,
  storage: string,
  manifest: BundleManifest,
  hooks: InstallHooks,
  platform: NodeJS.Platform = process.platform,
): Promise<string> {
  const server = venvServer(storage, manifest, platform);
  const venv = venvDir(storage, manifest);
  const stamp = path.join(venv, '.bai-installed');
  if (fs.existsSync(stamp) && fs.existsSync(server)) {
    return server;
  }
  hooks.progress('looking for Python ≥ 3.11');
  const selected = await hooks.selectedPython().catch(() => undefined);
  const { found, tried } = await probePythons(pythonCandidates(manifest, selected, platform), platform);
  const python = choosePython(found, manifest);
  if (!python) {
    throw new InstallError(noPythonMessage(tried));
  }
  hooks.log(`installing bai-lsp ${manifest.version} with ${python.executable} (${python.version.join('.')}) into ${venv}`);
  hooks.progress(`creating a venv with Python ${python.version.join('.')}`);
  fs.rmSync(venv, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(venv), { recursive: true });
  // --without-pip and the bundled pip wheel: works where ensurepip is missing (Debian)
  const made = await run(python.executable, ['-m', 'venv', '--without-pip', venv], 120000);
  if (made.code !== 0) {
    throw new InstallError(`Backend.AI: "${python.executable} -m venv" failed: ${made.out.trim()}`);
  }
  const wheels = path.join(extensionPath, 'bundled', 'wheels');
  const pipWheel = fs.readdirSync(wheels).find((f) => /^pip-.*\.whl$/.test(f));
  if (!pipWheel) {
    throw new InstallError(`Backend.AI: the extension's bundled wheels (${wheels}) have no pip wheel`);
  }
  hooks.progress(`installing bai-lsp ${manifest.version} from the bundled wheels`);
  const venvPython = path.join(binDir(venv, platform), platform === 'win32' ? 'python.exe' : 'python');
  const installed = await run(
    venvPython,
    [path.join(wheels, pipWheel, 'pip'), 'install', '--no-index', '--find-links', wheels,
      '--disable-pip-version-check', '--no-input', `bai-lsp==${manifest.version}`],
    600000,
  );
  hooks.log(installed.out.trim());
  if (installed.code !== 0 || !fs.existsSync(server)) {
    const last = installed.out.trim().split('\n').slice(-3).join(' ');
    const hint = python.version.join('.') !== manifest.python
      ? ` The bundled binary wheels are for Python ${manifest.python} on ${manifest.platform}; ` +
        `Python ${python.version.join('.')} was used. Install Python ${manifest.python}, or install bai-lsp ` +
        'yourself and set "backendai.server.path".'
      : '';
    throw new InstallError(`Backend.AI: installing the bundled bai-lsp failed: ${last}.${hint}`);
  }
  fs.writeFileSync(stamp, `${manifest.version}\n${python.executable}\n`);
  return server;
}
