import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { escapeHtml, mediaHtml, pageHtml, sizeText } from '../src/liveFormat';

test('variable sizes: the shape of arrays and frames, else the length', () => {
  assert.equal(sizeText({ name: 'df', type: 'DataFrame', summary: '', size: 1000, shape: [1000, 2] }), '1000×2');
  assert.equal(sizeText({ name: 'xs', type: 'list', summary: '[3, 1, 2]', size: 3 }), '3');
  assert.equal(sizeText({ name: 'n', type: 'int', summary: '42' }), '');
});

test('a data page: escaped cells, where it is, which buttons work', () => {
  const html = pageHtml(
    {
      name: 'df',
      type: 'DataFrame',
      summary: '120 rows x 1 columns',
      rows: { columns: ['', 'name'], data: [[50, '<b>x</b>'], [51, null]], total: 120 },
    },
    50,
  );
  assert.match(html, /rows 51–52 of 120/);
  assert.match(html, /<td>&lt;b&gt;x&lt;\/b&gt;<\/td>/);
  assert.match(html, /<button id="prev" >/);
  assert.match(html, /<button id="next" >/);
  const last = pageHtml({ name: 'xs', type: 'list', summary: '', rows: { columns: ['', 'value'], data: [[0, 1]], total: 1 } }, 0);
  assert.match(last, /<button id="prev" disabled>/);
  assert.match(last, /<button id="next" disabled>/);
  assert.equal(pageHtml({ name: 'n', type: 'int', summary: '42' }, 0).includes('<table>'), false);
});

test('media history: images inline, SVG as a data URI, HTML as escaped source', () => {
  const html = mediaHtml([
    { runId: 'abcdef0123456789', uri: 'file:///ws/plot.py', startedAt: 0, mime: 'image/png', data: 'iVBOR' },
    { runId: 'r2', uri: 'file:///ws/plot.py', startedAt: 0, mime: 'image/svg+xml', data: '<svg/>' },
    { runId: 'r3', uri: 'file:///ws/page.py', startedAt: 0, mime: 'text/html', data: '<script>x</script>' },
  ]);
  assert.match(html, /src="data:image\/png;base64,iVBOR"/);
  assert.match(html, /src="data:image\/svg\+xml;base64,PHN2Zy8\+"/);
  assert.match(html, /<pre>&lt;script&gt;x&lt;\/script&gt;<\/pre>/);
  assert.match(html, /plot\.py · .* · run abcdef01 · image\/png/);
  assert.match(mediaHtml([]), /No images/);
  assert.equal(escapeHtml(`"'&`), '&quot;&#39;&amp;');
});
