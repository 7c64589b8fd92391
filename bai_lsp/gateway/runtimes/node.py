"""Query mode for node images: one persistent ``node`` per session running a small driver.

Snippets run with ``vm.runInThisContext`` in one global context, so ``var``/``let``/
``function`` declarations persist between runs (redeclaring a ``let`` is a SyntaxError, as in
a browser console). The value of the last expression is printed like the Node REPL prints
it (awaiting it first if it is a promise). A snippet using top-level ``await`` runs as the
body of an async function, so its own declarations do not persist. ``breakOnSigint`` turns
an interrupt into an exception that ends the snippet, also in ``while (true) {}``.
Completion (``/complete``) lists the properties of the dotted name before the cursor (only
that name is evaluated: no calls), or the globals for a bare name; ``let``/``const``
declarations are not globals and are not offered bare.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path

from bai_lsp.gateway.runtimes.repl import PersistentRepl

#: How long a completion waits for the driver (it answers at once when idle).
COMPLETE_TIMEOUT = 2.0
MAX_MATCHES = 500

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
const IDENT_CHAIN = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;
function propertyNames(value) {
  const names = new Set();
  for (let o = Object(value); o; o = Object.getPrototypeOf(o)) {
    for (const n of Object.getOwnPropertyNames(o)) names.add(n);
  }
  return [...names];
}
// Completion of the dotted name before the cursor, without evaluating anything but that
// name (no calls); globals for a bare name. The answer goes to the file the gateway named.
function complete(request) {
  let matches = [];
  const word = (/[A-Za-z_$][\w$.]*$/.exec(request.code) || [''])[0];
  const dot = word.lastIndexOf('.');
  const base = dot >= 0 ? word.slice(0, dot) : '';
  const prefix = word.slice(dot + 1);
  try {
    if (!base) {
      matches = propertyNames(globalThis).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
    } else if (IDENT_CHAIN.test(base)) {
      matches = propertyNames(vm.runInThisContext(base)).map((n) => base + '.' + n);
    }
  } catch (_) {
    matches = [];
  }
  const wanted = matches
    .filter((m) => m.slice(dot + 1).startsWith(prefix) && !/\.__|^__/.test(m))
    .sort();
  fs.writeFileSync(request.out + '.partial', JSON.stringify(wanted));
  fs.renameSync(request.out + '.partial', request.out);
}
control.on('data', (chunk) => {
  pending += chunk.toString('utf8');
  let nl;
  while ((nl = pending.indexOf('\n')) >= 0) {
    const message = JSON.parse(pending.slice(0, nl));
    pending = pending.slice(nl + 1);
    if (typeof message === 'string') queue.push(message);
    else complete(message);
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

    async def complete(self, code: str, cursor: int) -> list[str]:
        """Names completing the dotted name before ``cursor`` (``[]`` when not running).

        Asked only while no run holds the runner (``SessionRuntime.query_busy``), so the
        driver's event loop is free to answer, into a file of this request's own.
        """
        if self.proc is None or self.proc.returncode is not None or self._lock.locked():
            return []
        async with self._lock:  # a run's snippet and this request never interleave
            return await self._complete(code, cursor)

    async def _complete(self, code: str, cursor: int) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="bai-lsp-complete-") as tmp:
            out = Path(tmp) / "answer.json"
            request = {"code": code[:cursor], "out": str(out)}
            await asyncio.to_thread(self._send, json.dumps(request).encode() + b"\n")
            for _ in range(int(COMPLETE_TIMEOUT / 0.01)):
                if await asyncio.to_thread(out.exists):
                    text = await asyncio.to_thread(out.read_text)
                    return [str(m) for m in json.loads(text)][:MAX_MATCHES]
                await asyncio.sleep(0.01)
        return []
