// A new user's first minutes with the release .vsix in code-server: open hello.py, put the
// cursor on print(1), press Ctrl+Shift+Enter. The extension sets up its bundled server
// (progress notification) and the run's output appears in the Backend.AI view.
//
//   node vscode_first_run.js CONFIG.json     (run by tests/install/test_first_run.py)
//
// CONFIG: {url, folder, file, chromium, artifacts, results, playwright}
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { chromium } = require(cfg.playwright);
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const result = { toasts: [] };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function toastTexts(page) {
  return page.locator('.notifications-toasts .notification-list-item').allInnerTexts().catch(() => []);
}

async function outputRuns(page) {
  for (const frame of page.frames()) {
    try {
      const runs = await frame.evaluate(() => {
        if (!document.querySelector('#log')) return undefined;
        return [...document.querySelectorAll('section.run')].map((s) => ({
          lines: [...s.querySelectorAll('.line')].map((l) => l.textContent.replace(/\u200b/g, '')),
          footer: s.querySelector('.run-footer')?.textContent ?? null,
          status: s.querySelector('.run-footer')?.getAttribute('data-status') ?? null,
        }));
      });
      if (runs) return runs;
    } catch {
      // a frame in transition
    }
  }
  return [];
}

(async () => {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bai-pw-first-run-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = browser.pages()[0] || (await browser.newPage());
  try {
    await page.goto(`${cfg.url}/?folder=${encodeURIComponent(cfg.folder)}`, { waitUntil: 'domcontentloaded', timeout: 120000 });
    await page.waitForSelector('.monaco-workbench', { timeout: 120000 });
    log('workbench up');
    await sleep(1500);
    // open the file from the Explorer, as a new user would
    const item = page.getByRole('treeitem', { name: cfg.file });
    await item.first().waitFor({ timeout: 60000 });
    await item.first().click();
    await page.locator('.tabs-container .tab.active', { hasText: cfg.file }).first().waitFor({ timeout: 30000 });
    // the key binding exists once the extension is loaded: its status bar item says so (before
    // that, Ctrl+Shift+Enter is VS Code's own "Insert Line Above")
    await page.locator('.statusbar-item [aria-label*="Backend.AI"]').first().waitFor({ timeout: 120000 });
    log('extension loaded');
    await page.locator('.monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('Control+Shift+Enter');
    log('Ctrl+Shift+Enter');
    const end = Date.now() + cfg.timeoutMs;
    let runs = [];
    while (Date.now() < end) {
      for (const t of await toastTexts(page)) {
        const text = t.replace(/\s+/g, ' ').trim();
        if (text && !result.toasts.includes(text)) {
          result.toasts.push(text);
          log('toast:', text);
          if (/setting up the language server/.test(text) && !result.progressShot) {
            result.progressShot = path.join(cfg.artifacts, 'vscode-first-run-progress.png');
            await page.screenshot({ path: result.progressShot });
          }
        }
      }
      runs = await outputRuns(page);
      if (runs.some((r) => r.status)) break;
      if (result.toasts.some((t) => /failed|needs Python|not found/i.test(t))) break;
      await sleep(200);
    }
    result.runs = runs;
    result.seconds = (Date.now() - t0) / 1000;
  } catch (e) {
    result.error = e.message;
  }
  await page.screenshot({ path: path.join(cfg.artifacts, 'vscode-first-run.png') }).catch(() => undefined);
  fs.writeFileSync(cfg.results, JSON.stringify(result, null, 2));
  await browser.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
  log('done');
  process.exit(0);
})().catch((e) => {
  console.error('driver crashed:', e);
  process.exit(2);
});
