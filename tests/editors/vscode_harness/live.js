// Drives the live-session features of the "Run on Backend.AI" extension in code-server
// (VS Code 1.100, headless Debian chromium), next to a second extension that also offers
// completion and hover for Python: the suggest widget, the hover, the "Backend.AI Variables"
// tree, the data preview, the media history and "Export Runs…", as a user uses them.
//
//   node live.js CONFIG.json
//
// CONFIG: {url, folder, file, artifacts, results, chromium, exportPath}
// Writes {ok, error?, steps: {...}} to RESULTS; tests/editors/test_vscode_live.py asserts.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const result = { steps: {} };
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const save = () => fs.writeFileSync(cfg.results, JSON.stringify(result, null, 2));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll(what, fn, timeoutMs = 30000, intervalMs = 150) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (last instanceof Error ? ` (${last.message})` : ''));
}

/** The webview frame whose document has `selector` (webviews are nested iframes). */
async function webviewFrame(page, selector) {
  for (const frame of page.frames()) {
    try {
      if (await frame.evaluate((s) => !!document.querySelector(s), selector)) return frame;
    } catch {
      // a frame in transition
    }
  }
  return undefined;
}

async function palette(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ timeout: 10000 });
  await row.click();
}

async function gotoLine(page, line) {
  await page.keyboard.press('Control+g');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  await sleep(200);
}

async function openFile(page, file) {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await page.keyboard.press('Control+p');
      const qo = page.locator('.quick-input-widget input');
      await qo.waitFor({ state: 'visible', timeout: 15000 });
      await qo.fill(file);
      await page.locator('.quick-input-list .monaco-list-row', { hasText: file }).first().waitFor({ timeout: 15000 });
      await page.keyboard.press('Enter');
      break;
    } catch (e) {
      log('quick open did not list the file yet:', e.message.split('\n')[0]);
      await page.keyboard.press('Escape');
      const item = page.getByRole('treeitem', { name: file });
      if (await item.count()) {
        await item.first().click();
        break;
      }
    }
  }
  await page.locator('.tabs-container .tab.active', { hasText: file }).first().waitFor({ timeout: 20000 });
}

/** Rows of the "Backend.AI Variables" view: [label, description]. */
async function variableRows(page) {
  const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Backend.AI Variables' }) });
  return pane.locator('.monaco-list-row').evaluateAll((rows) =>
    rows.map((r) => [r.querySelector('.label-name')?.textContent ?? '', r.querySelector('.label-description')?.textContent ?? '']),
  );
}

async function runLine(page, line) {
  await gotoLine(page, line);
  await page.keyboard.press('Control+Shift+Enter');
}

/** Focus the demo's editor through its tab (a webview beside it may hold the focus). */
async function editorFocus(page) {
  await page.locator('.tabs-container .tab', { hasText: cfg.file }).first().click();
  await sleep(200);
}

async function step(name, fn) {
  log('step', name);
  result.steps[name] = await fn();
  log(name, JSON.stringify(result.steps[name]).slice(0, 400));
  save();
}

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bai-pw-live-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  page.on('pageerror', (e) => log('pageerror:', e.message));
  try {
    await page.goto(`${cfg.url}/?folder=${encodeURIComponent(cfg.folder)}`, { waitUntil: 'domcontentloaded', timeout: 120000 });
    await page.waitForSelector('.monaco-workbench', { timeout: 120000 });
    await sleep(1500);
    await openFile(page, cfg.file);
    await page.waitForSelector('.monaco-editor .view-lines', { timeout: 20000 });
    // the Explorer with the Variables view open
    await palette(page, 'Focus on Backend.AI Variables View');
    await editorFocus(page);

    await step('variables', async () => {
      await runLine(page, 1);
      const rows = await poll('xs in the Variables view', async () => {
        const r = await variableRows(page);
        return r.some(([name]) => name === 'xs') ? r : undefined;
      }, 120000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-variables.png') });
      return { rows };
    });

    await step('completion', async () => {
      await editorFocus(page);
      await gotoLine(page, 2);
      await page.keyboard.press('End');
      await page.keyboard.press('Control+Space');
      const labels = await poll('the suggest widget with the session\'s items', async () => {
        const rows = page.locator('.suggest-widget.visible .monaco-list-row');
        const got = await rows.evaluateAll((els) => els.map((e) => e.querySelector('.label-name')?.textContent ?? e.getAttribute('aria-label')));
        return got.includes('append') && got.includes('from_other_provider') ? got : undefined;
      }, 30000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-completion.png') });
      await page.keyboard.press('Escape');
      return { labels };
    });

    await step('hover', async () => {
      await gotoLine(page, 1);
      await page.keyboard.press('Home');
      for (let i = 0; i < 14; i++) await page.keyboard.press('ArrowRight'); // on "xs"
      await palette(page, 'Show or Focus Hover');
      const text = await poll('the hover of both providers', async () => {
        const t = await page.locator('.monaco-hover').allInnerTexts();
        const all = t.join('\n');
        return all.includes('xs: list') && all.includes('hover from the other provider') ? all : undefined;
      }, 30000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-hover.png') });
      await page.keyboard.press('Escape');
      return { text };
    });

    await step('preview', async () => {
      await editorFocus(page);
      await runLine(page, 3);
      await poll('df in the Variables view', async () => (await variableRows(page)).some(([n]) => n === 'df'), 120000);
      await palette(page, 'Backend.AI: Preview Data…');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10000 });
      await input.fill('df');
      await page.keyboard.press('Enter');
      const first = await poll('the data preview table', async () => {
        const frame = await webviewFrame(page, '#where');
        if (!frame) return undefined;
        return frame.evaluate(() => ({
          where: document.getElementById('where').textContent,
          header: [...document.querySelectorAll('th')].map((th) => th.textContent),
          rows: document.querySelectorAll('tbody tr').length,
          firstRow: [...document.querySelectorAll('tbody tr:first-child td')].map((td) => td.textContent),
        }));
      }, 30000);
      const frame = await webviewFrame(page, '#next');
      await frame.click('#next');
      const second = await poll('the second page', async () => {
        const f = await webviewFrame(page, '#where');
        if (!f) return undefined;
        const got = await f.evaluate(() => ({
          where: document.getElementById('where').textContent,
          firstRow: [...document.querySelectorAll('tbody tr:first-child td')].map((td) => td.textContent),
        }));
        return got.where.startsWith('rows 51') ? got : undefined;
      }, 30000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-preview.png') });
      return { first, second };
    });

    await step('media', async () => {
      await editorFocus(page);
      await runLine(page, 4);
      // the panel lists what the run log has, and refreshes when a run ends
      await palette(page, 'Backend.AI: Show Media History');
      const shown = await poll('the plot in the media history', async () => {
        const frame = await webviewFrame(page, 'figure.history img');
        if (!frame) return undefined;
        return frame.evaluate(() => [...document.querySelectorAll('figure.history')].map((f) => ({
          src: f.querySelector('img')?.getAttribute('src')?.slice(0, 30) ?? '',
          caption: f.querySelector('figcaption')?.textContent ?? '',
        })));
      }, 120000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-media.png') });
      return { shown };
    });

    await step('export', async () => {
      await editorFocus(page);
      await palette(page, 'Backend.AI: Export Runs…');
      // VS Code's simple save dialog (a remote window): the path is typed into its box
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 10000 });
      await poll('the proposed file name', async () => (await input.inputValue()).includes('backendai-runs'), 15000);
      await input.fill(cfg.exportPath);
      await sleep(500);
      await page.keyboard.press('Enter');
      const toast = await poll('the "exported" notification', async () => {
        const t = page.locator('.notifications-toasts .notification-list-item', { hasText: 'exported' });
        if (await t.count()) return (await t.first().innerText()).replace(/\s+/g, ' ');
        if (await input.isVisible()) {
          // the first Enter may only have completed the path in the box
          await page.keyboard.press('Enter');
        }
        return undefined;
      }, 30000, 1000);
      await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-export.png') });
      return { toast, exists: fs.existsSync(cfg.exportPath) };
    });
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.error = e.message;
    log('FAILED', e.message);
    await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-live-failed.png') }).catch(() => undefined);
  }
  save();
  await browser.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  process.exit(0);
})().catch((e) => {
  console.error('driver crashed:', e);
  result.ok = false;
  result.error = `driver crashed: ${e.message}`;
  save();
  process.exit(2);
});
