import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { applySgr, colour256, Segment, TerminalModel } from '../src/webview/terminalModel';

const text = (line: Segment[]): string => line.map((s) => s.text).join('');

test('plain lines are committed on newline, the rest stays current', () => {
  const m = new TerminalModel();
  const r = m.write('hello\nwor', 'stdout');
  assert.deepEqual(r.committed.map(text), ['hello']);
  assert.equal(text(r.current), 'wor');
  const r2 = m.write('ld\n', 'stdout');
  assert.deepEqual(r2.committed.map(text), ['world']);
  assert.equal(r2.current.length, 0);
});

test('a \\r progress bar rewrites one line instead of adding lines', () => {
  const m = new TerminalModel();
  let committed = 0;
  let last: Segment[] = [];
  for (let i = 0; i <= 100; i += 10) {
    const r = m.write(`\r${i}%|${'#'.repeat(i / 10)}`, 'stderr');
    committed += r.committed.length;
    last = r.current;
  }
  assert.equal(committed, 0);
  assert.equal(text(last), '100%|##########');
  const done = m.write('\n', 'stderr');
  assert.deepEqual(done.committed.map(text), ['100%|##########']);
});

test('a shorter rewrite keeps the tail like a terminal, erase-line clears it', () => {
  const m = new TerminalModel();
  m.write('abcdef', 'stdout');
  assert.equal(text(m.write('\rXY', 'stdout').current), 'XYcdef');
  assert.equal(text(m.write('\x1b[K', 'stdout').current), 'XY');
});

test('\\r\\n split across chunks ends the line without losing it', () => {
  const m = new TerminalModel();
  m.write('line\r', 'stdout');
  const r = m.write('\nnext', 'stdout');
  assert.deepEqual(r.committed.map(text), ['line']);
  assert.equal(text(r.current), 'next');
});

test('SGR colours become styles; reset and 256/true colours work', () => {
  const m = new TerminalModel();
  const r = m.write('\x1b[1;31mred\x1b[0m plain \x1b[38;5;196mx\x1b[38;2;1;2;3my\x1b[0m\n', 'stdout');
  const segs = r.committed[0];
  assert.equal(segs[0].text, 'red');
  assert.deepEqual(segs[0].style, { bold: true, fg: 'ansi-red' });
  assert.equal(segs[1].text, ' plain ');
  assert.deepEqual(segs[1].style, {});
  assert.equal(segs[2].style.fg, 'rgb(255,0,0)');
  assert.equal(segs[3].style.fg, 'rgb(1,2,3)');
});

test('an escape sequence split across chunks is not printed', () => {
  const m = new TerminalModel();
  const a = m.write('a\x1b[3', 'stdout');
  assert.equal(text(a.current), 'a');
  const b = m.write('2mgreen\n', 'stdout');
  assert.equal(text(b.committed[0]), 'agreen');
  assert.equal(b.committed[0][1].style.fg, 'ansi-green');
});

test('stderr and stdout keep their stream on the same line and their own colours', () => {
  const m = new TerminalModel();
  m.write('\x1b[32mout ', 'stdout');
  const r = m.write('err\n', 'stderr');
  const segs = r.committed[0];
  assert.equal(segs[0].stream, 'stdout');
  assert.equal(segs[0].style.fg, 'ansi-green');
  assert.equal(segs[1].stream, 'stderr');
  assert.equal(segs[1].style.fg, undefined);
});

test('backspace, tabs, OSC titles and bells', () => {
  const m = new TerminalModel();
  const r = m.write('ab\bc\tx\x1b]0;title\x07\x07!\n', 'stdout');
  assert.equal(text(r.committed[0]), 'ac      x!');
});

test('256-colour palette corners', () => {
  assert.equal(colour256(1), 'ansi-red');
  assert.equal(colour256(9), 'ansi-bright-red');
  assert.equal(colour256(16), 'rgb(0,0,0)');
  assert.equal(colour256(231), 'rgb(255,255,255)');
  assert.equal(colour256(232), 'rgb(8,8,8)');
  assert.deepEqual(applySgr({ fg: 'x', bold: true }, [39, 22]), { bold: false, dim: false });
});

test('flush returns the unterminated line and resets colours', () => {
  const m = new TerminalModel();
  m.write('\x1b[31mpartial', 'stdout');
  const rest = m.flush();
  assert.equal(rest && text(rest), 'partial');
  const r = m.write('after\n', 'stdout');
  assert.deepEqual(r.committed[0][0].style, {});
});
