import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { assembleSettings } from '../src/settings';

test('settings: declared apps reach the server, none are left out', () => {
  assert.equal('apps' in assembleSettings(() => undefined, undefined), false);
  const apps = [{ name: 'web', port: 8000 }];
  assert.deepEqual(assembleSettings((key) => (key === 'apps' ? apps : undefined), undefined).apps, apps);
});
