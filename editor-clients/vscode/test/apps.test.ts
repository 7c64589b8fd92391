import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { assembleSettings, RawSettings } from '../src/settings';

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

test('settings: declared apps reach the server, none are left out', () => {
  assert.equal('apps' in assembleSettings({ ...raw, apps: [] }, undefined), false);
  const apps = [{ name: 'web', port: 8000 }];
  assert.deepEqual(assembleSettings({ ...raw, apps }, undefined).apps, apps);
});
