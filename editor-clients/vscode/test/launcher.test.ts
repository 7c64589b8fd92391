import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { clock, describeSlots } from '../src/launcherText';

test('presets read as CPUs and GiB in the quick pick', () => {
  assert.equal(describeSlots({ mem: '4294967296', cpu: '2' }), 'cpu 2, mem 4.0 GiB');
  assert.equal(describeSlots({ cpu: '1', 'cuda.shares': '0.5' }), 'cpu 1, cuda.shares 0.5');
  assert.equal(describeSlots(undefined), '');
});

test('countdowns read as m:ss or h:mm:ss and never go negative', () => {
  assert.equal(clock(299.9), '4:59');
  assert.equal(clock(7200), '2:00:00');
  assert.equal(clock(-3), '0:00');
});
