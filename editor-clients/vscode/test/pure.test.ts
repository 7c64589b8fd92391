import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { cellMarkerLines, cellTitle } from '../src/cells';
import { resolveServer, ResolveEnv, ServerNotFoundError } from '../src/serverCommand';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { endedSessionWarning, failedRunText } from '../src/features/texts';
import { SERVER_SETTING_KEYS } from '../src/protocol';
import { assembleSettings, SettingReader, secretStorageKey } from '../src/settings';

test('cell markers in Python and C-like files', () => {
  const py = 'import os\n# %% Load\nx = 1\n#%%\ny = 2\n  # %% [markdown] Notes\n# not a cell %%\n';
  assert.deepEqual(cellMarkerLines(py), [1, 3, 5]);
  assert.deepEqual(cellMarkerLines('int a;\r\n// %% setup\r\nb();\r\n'), [1]);
  assert.equal(cellTitle('# %% Load data'), 'Load data');
  assert.equal(cellTitle('  # %% [markdown] Notes'), 'Notes');
  assert.equal(cellTitle('// %%'), '');
});

function env(executables: string[], over: Partial<ResolveEnv> = {}): ResolveEnv {
  return {
    folders: ['/ws'],
    trusted: true,
    pathVar: '/usr/local/bin:/usr/bin',
    platform: 'linux',
    isExecutable: (f) => executables.includes(f),
    ...over,
  };
}

const none = { path: '', pythonPath: '', args: [] as string[] };

test('server: interpreter setting wins and runs the module', () => {
  const r = resolveServer({ ...none, pythonPath: '/opt/py/bin/python', path: '/x/bai-lsp', args: ['-v'] }, env([]));
  assert.deepEqual([r.command, r.args], ['/opt/py/bin/python', ['-m', 'bai_lsp', '-v']]);
});

test('server: explicit path, then the trusted workspace venv, then PATH', () => {
  assert.equal(resolveServer({ ...none, path: '/x/bai-lsp' }, env([])).command, '/x/bai-lsp');
  const both = env(['/ws/.venv/bin/bai-lsp', '/usr/bin/bai-lsp']);
  assert.equal(resolveServer(none, both).command, '/ws/.venv/bin/bai-lsp');
  assert.equal(resolveServer(none, { ...both, trusted: false }).command, '/usr/bin/bai-lsp');
});

test('server: a clear error when nothing is found', () => {
  assert.throws(() => resolveServer(none, env([])), (e: unknown) => {
    assert.ok(e instanceof ServerNotFoundError);
    assert.match((e as Error).message, /backendai\.server\.path/);
    return true;
  });
});

/** A reader over settings the user set: `user` (user/machine) and `folder` (workspace). */
function reader(user: Record<string, unknown>, folder: Record<string, unknown> = {}): SettingReader {
  return (key, userOnly) => (userOnly ? user[key] : (folder[key] ?? user[key]));
}

test('settings: unset and empty values are left to the server (and BACKEND_*)', () => {
  const s = assembleSettings(reader({ image: '  ', sessionName: '' }), undefined);
  assert.deepEqual(s, {});
});

test('settings: keypair and secret are passed through', () => {
  const s = assembleSettings(reader({ endpoint: ' https://api.example ', accessKey: 'AKIA', images: { python: 'py:3' } }), 's3cr3t');
  assert.equal(s.endpoint, 'https://api.example');
  assert.equal(s.accessKey, 'AKIA');
  assert.equal(s.secretKey, 's3cr3t');
  assert.deepEqual(s.images, { python: 'py:3' });
  assert.equal(secretStorageKey('https://a', 'K'), 'backendai.secretKey:https://a#K');
});

test('settings: a workspace cannot set the endpoint or the keypair', () => {
  const s = assembleSettings(reader({}, { endpoint: 'https://evil.example', accessKey: 'X', domain: 'team' }), undefined);
  assert.deepEqual(s, { domain: 'team' });
});

test('settings: dotted keys become the nested objects the server reads', () => {
  const s = assembleSettings(
    reader({ 'output.maxBytesPerRun': 2048, 'batch.exec': 'python -u {file}', notifyAfterSeconds: 0, runTransport: 'rest' }),
    undefined,
  );
  assert.deepEqual(s, { notifyAfterSeconds: 0, runTransport: 'rest', batch: { exec: 'python -u {file}' }, output: { maxBytesPerRun: 2048 } });
});

const root = path.join(__dirname, '..', '..');

test('settings: every documented server setting can be set in VS Code', () => {
  const doc = fs.readFileSync(path.join(root, '..', '..', 'docs', 'protocol.md'), 'utf8');
  const table = doc.split('<!-- BEGIN GENERATED: settings -->')[1].split('<!-- END GENERATED: settings -->')[0];
  const documented = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const declared = Object.keys(pkg.contributes.configuration.properties);
  assert.ok(documented.length >= 20, table);
  for (const key of documented) {
    if (key === 'secretKey') {
      continue; // kept in VS Code's secret storage (Backend.AI: Set Secret Key…), never in settings
    }
    assert.ok(declared.includes(`backendai.${key}`), `backendai.${key} is not in package.json`);
    assert.ok((SERVER_SETTING_KEYS as readonly string[]).includes(key), `${key} is not sent to the server`);
  }
});

test('a failed run says why, in the server\'s words', () => {
  const runId = '0123456789abcdef0123';
  assert.equal(
    failedRunText({ runId, message: 'Session bai-x was lost: it was destroyed.' }),
    'Backend.AI: run 01234567 failed: Session bai-x was lost: it was destroyed.',
  );
  assert.match(failedRunText({ runId }), /could not finish/);
});

test('an ended session is news unless the server says this user destroyed it', () => {
  const status = { workspace: 'file:///w', sessionName: 'bai-w', image: 'python', status: 'terminated' as const, message: 'Session bai-w ended: it was idle longer than the idle timeout.' };
  assert.equal(endedSessionWarning({ ...status, reason: 'destroyed-by-user' }, 'idle'), undefined);
  assert.equal(
    endedSessionWarning({ ...status, reason: 'idle-timeout' }, 'idle'),
    'Backend.AI session bai-w was terminated: Session bai-w ended: it was idle longer than the idle timeout.',
  );
  assert.equal(endedSessionWarning({ ...status, reason: 'idle-timeout' }, 'terminated'), undefined);
});
