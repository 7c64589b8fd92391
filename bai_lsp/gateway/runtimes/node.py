"""Query mode for node images: one persistent ``node`` per session running a small driver.

Snippets run with ``vm.runInThisContext`` in one global context, so ``var``/``let``/
``function`` declarations persist between runs (redeclaring a ``let`` is a SyntaxError, as in
a browser console). The value of the last expression is printed like the Node REPL prints
it (awaiting it first if it is a promise). A snippet using top-level ``await`` runs as the
body of an async function, so its own declarations do not persist. ``breakOnSigint`` turns
an interrupt into an exception that ends the snippet, also in ``while (true) {}``.
"""

from __future__ import annotations

import json
import shutil

from bai_lsp.gateway.runtimes.repl import PersistentRepl

_DRIVER = r"""
'use strict';
const fs = require('fs');
const vm = require('vm');
const util = require('util');
globalThis.require = require;
process.on('SIGINT', () => {});
const TOKEN = process.argv[2];
const control = fs.createReadStream(null, { fd: Number(process.argv[1]) });
const end = (status) => {
  process.stdout.write('\x1eBAI-END-' + TOKEN + '-' + status + '\x1e');
  process.stderr.write('\x1eBAI-END-' + TOKEN + '-0\x1e');
};
let pending = '';
const queue = [];
let busy = false;
function cleanStack(err) {
  if (!err || !err.stack) return String(err);
  const lines = String(err.stack).split('\n');
  const cut = lines.findIndex((line) => /node:vm|\[eval\]/.test(line));
  return (cut > 0 ? lines.slice(0, cut) : lines).join('\n');
}
function compile(code) {
  try {
    return new vm.Script(code, { filename: 'snippet.js' });
  } catch (err) {
    if (!(err instanceof SyntaxError) || !/await/.test(err.message)) throw err;
    // Top-level await: run the snippet as an async function (its declarations stay local).
    try {
      return new vm.Script('(async () => (' + code + '\n))()', { filename: 'snippet.js' });
    } catch (_) {
      return new vm.Script('(async () => {' + code + '\n})()', { filename: 'snippet.js' });
    }
  }
}
async function runOne(code) {
  let status = 0;
  try {
    let result = compile(code).runInThisContext({ breakOnSigint: true });
    if (result && typeof result.then === 'function') result = await result;
    if (result !== undefined) process.stdout.write(util.inspect(result, { colors: false }) + '\n');
  } catch (err) {
    status = 1;
    process.stderr.write(cleanStack(err) + '\n');
  }
  end(status);
}
async function drain() {
  if (busy) return;
  busy = true;
  while (queue.length) await runOne(queue.shift());
  busy = false;
}
control.on('data', (chunk) => {
  pending += chunk.toString('utf8');
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    queue.push(JSON.parse(pending.slice(0, nl)));
    pending = pending.slice(nl + 1);
  }
  drain();
});
control.on('end', () => process.exit(0));
"""


class NodeEngine(PersistentRepl):
    language = "node"

    def argv(self, control_fd: int, token: str) -> list[str]:
        node = shutil.which("node", path=self.env.get("PATH")) or "node"
        return [node, "-e", _DRIVER, str(control_fd), token]

    def frame(self, code: str) -> bytes:
        return json.dumps(code).encode() + b"\n"
