// Bundles the extension (Node, CommonJS) and the webview scripts (browser) with esbuild.
// `node build.mjs --tests` bundles only test/*.test.ts, for `node --test out/test/`.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'fs';

const tests = process.argv.includes('--tests');
const common = { bundle: true, sourcemap: false, logLevel: 'warning', target: 'es2022' };

if (tests) {
  // only the unit tests: leave the packaged build (and its stamp) alone
  rmSync('out/test', { recursive: true, force: true });
  const entries = readdirSync('test')
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/${f}`);
  await build({ ...common, entryPoints: entries, outdir: 'out/test', platform: 'node', format: 'cjs' });
} else {
  rmSync('out', { recursive: true, force: true });
  await Promise.all([
    build({
      ...common,
      entryPoints: ['src/extension.ts'],
      outfile: 'out/extension.js',
      platform: 'node',
      format: 'cjs',
      external: ['vscode'],
      minify: true,
    }),
    build({
      ...common,
      entryPoints: ['src/webview/output.ts', 'src/webview/media.ts'],
      outdir: 'out/webview',
      platform: 'browser',
      format: 'iife',
    }),
  ]);
}
