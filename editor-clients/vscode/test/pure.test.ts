import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { cellMarkerLines, cellTitle } from '../src/cells';
import { resolveServer, ResolveEnv, ServerNotFoundError } from '../src/serverCommand';
import { assembleSettings, RawSettings, secretStorageKey } from '../src/settings';

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

const raw: RawSettings = {
  endpoint: '',
  endpointType: 'api',
  accessKey: '',
  domain: 'default',
  group: 'default',
  image: '',
  images: {},
  resources: {},
  mounts: [],
  environ: {},
  sessionName: '',
  onExit: 'keep',
  batch: {},
  maxBytesPerRun: 10485760,
  flushIntervalMs: 16,
};

test('settings: empty values are left to the server defaults', () => {
  const s = assembleSettings(raw, undefined);
  assert.equal('endpoint' in s, false);
  assert.equal('accessKey' in s, false);
  assert.equal('secretKey' in s, false);
  assert.equal('image' in s, false);
  assert.deepEqual(s.output, { maxBytesPerRun: 10485760, flushIntervalMs: 16 });
});

test('settings: keypair and secret are passed through', () => {
  const s = assembleSettings({ ...raw, endpoint: ' https://api.example ', accessKey: 'AKIA', images: { python: 'py:3' } }, 's3cr3t');
  assert.equal(s.endpoint, 'https://api.example');
  assert.equal(s.accessKey, 'AKIA');
  assert.equal(s.secretKey, 's3cr3t');
  assert.deepEqual(s.images, { python: 'py:3' });
  assert.equal(secretStorageKey('https://a', 'K'), 'backendai.secretKey:https://a#K');
});
