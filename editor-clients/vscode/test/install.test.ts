import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { choosePython, noPythonMessage, parseProbe, protocolMismatch, pythonCandidates, PROTOCOL_VERSION, venvServer } from '../src/install';
import { BUNDLED_SOURCE, resolveServer, ResolveEnv } from '../src/serverCommand';

const manifest = { version: '0.1.0', python: '3.11', platform: 'linux-x86_64', pip: '25.3' };

function env(executables: string[], over: Partial<ResolveEnv> = {}): ResolveEnv {
  return {
    folders: ['/ws'],
    trusted: true,
    pathVar: '/usr/bin',
    platform: 'linux',
    isExecutable: (f) => executables.includes(f),
    ...over,
  };
}
const none = { path: '', pythonPath: '', args: [] as string[] };

test('bundled server: after the settings and the workspace .venv, before PATH', () => {
  const bundled = venvServer('/store', manifest, 'linux');
  assert.equal(bundled, '/store/server/bai-lsp-0.1.0-py3.11/bin/bai-lsp');
  const onPath = env(['/usr/bin/bai-lsp'], { bundled });
  assert.equal(resolveServer(none, onPath).source, BUNDLED_SOURCE);
  assert.equal(resolveServer({ ...none, path: '/mine/bai-lsp' }, onPath).command, '/mine/bai-lsp');
  assert.equal(resolveServer(none, env(['/ws/.venv/bin/bai-lsp'], { bundled })).command, '/ws/.venv/bin/bai-lsp');
  // a .vsix without bundled wheels: PATH as before
  assert.equal(resolveServer(none, env(['/usr/bin/bai-lsp'])).command, '/usr/bin/bai-lsp');
});

test('python: the selected interpreter first, then the bundle version, newer ones, any', () => {
  assert.deepEqual(pythonCandidates(manifest, '/venv/bin/python', 'linux'), [
    '/venv/bin/python', 'python3.11', 'python3.13', 'python3.12', 'python3', 'python',
  ]);
  assert.deepEqual(parseProbe('3 12 /usr/bin/python3.12\n'), { version: [3, 12], executable: '/usr/bin/python3.12' });
  assert.equal(parseProbe('Python was not found'), undefined);
  const found = [
    { command: 'a', version: [3, 9] as [number, number], executable: '/a' },
    { command: 'b', version: [3, 13] as [number, number], executable: '/b' },
    { command: 'c', version: [3, 11] as [number, number], executable: '/c' },
  ];
  assert.equal(choosePython(found, manifest)?.executable, '/c', 'the wheels fit 3.11');
  assert.equal(choosePython(found.slice(0, 2), manifest)?.executable, '/b', 'else the first new enough');
  assert.equal(choosePython(found.slice(0, 1), manifest), undefined);
  const msg = noPythonMessage(['python3.11: not found', 'python3: 3.9']);
  assert.match(msg, /needs Python 3\.11 or newer.*python3\.11: not found; python3: 3\.9.*backendai\.server\.path/);
});

test('protocol: a server speaking another version gets a warning naming both', () => {
  const same = { capabilities: { experimental: { backendai: { protocolVersion: PROTOCOL_VERSION } } }, serverInfo: { version: '0.1.0' } };
  assert.equal(protocolMismatch(same, '0.1.0'), undefined);
  const old = { capabilities: {}, serverInfo: { name: 'bai-lsp', version: '0.0.9' } };
  assert.match(protocolMismatch(old, '0.1.0') ?? '', /bai-lsp server 0\.0\.9 speaks protocol version \(none\), this extension 0\.1\.0 speaks 1/);
});
