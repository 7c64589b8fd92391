/**
 * What the live-session views show, as text and HTML (no VS Code API: unit-tested in
 * test/live.test.ts). The payloads are the server's (docs/protocol.md, "Live session").
 */

export interface Variable {
  name: string;
  type: string;
  summary: string;
  size?: number;
  shape?: number[];
}

export interface Rows {
  columns: string[];
  data: unknown[][];
  total: number;
}

export interface Inspection {
  name: string;
  type: string;
  summary: string;
  rows?: Rows;
}

export interface MediaEntry {
  runId: string;
  uri: string;
  startedAt: number;
  mime: string;
  data: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** "1000×2" for a shape, "3" for a length, "" otherwise. */
export function sizeText(v: Variable): string {
  if (v.shape && v.shape.length) {
    return v.shape.join('×');
  }
  return v.size === undefined ? '' : String(v.size);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The HTML table of one page (the data preview's body). */
export function pageHtml(result: Inspection, offset: number): string {
  const head = `<p class="summary"><b>${escapeHtml(result.name)}</b>: ${escapeHtml(result.type)} — ${escapeHtml(result.summary)}</p>`;
  const rows = result.rows;
  if (!rows) {
    return head;
  }
  const header = rows.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows.data
    .map((row) => `<tr>${row.map((v) => `<td>${escapeHtml(cellText(v))}</td>`).join('')}</tr>`)
    .join('');
  const first = rows.data.length ? offset + 1 : offset;
  const last = offset + rows.data.length;
  const nav =
    `<p class="nav"><button id="prev" ${offset > 0 ? '' : 'disabled'}>◀ Previous</button> ` +
    `<span id="where">rows ${first}–${last} of ${rows.total}</span> ` +
    `<button id="next" ${last < rows.total ? '' : 'disabled'}>Next ▶</button></p>`;
  return `${head}${nav}<table><thead><tr>${header}</tr></thead><tbody>${body}</tbody></table>`;
}

/** The media history page: newest first, each with the file and the time it ran. */
export function mediaHtml(items: MediaEntry[]): string {
  if (!items.length) {
    return '<p>No images or HTML output in the run log yet.</p>';
  }
  return items
    .map((m) => {
      const file = m.uri.split('/').pop() ?? m.uri;
      const when = new Date(m.startedAt * 1000).toLocaleString();
      const caption = `<figcaption>${escapeHtml(file)} · ${escapeHtml(when)} · run ${escapeHtml(m.runId.slice(0, 8))} · ${escapeHtml(m.mime)}</figcaption>`;
      let body: string;
      if (m.mime === 'image/svg+xml') {
        body = `<img alt="output" src="data:image/svg+xml;base64,${Buffer.from(m.data, 'utf8').toString('base64')}">`;
      } else if (m.mime.startsWith('image/')) {
        body = `<img alt="output" src="data:${escapeHtml(m.mime)};base64,${escapeHtml(m.data)}">`;
      } else {
        body = `<pre>${escapeHtml(m.data)}</pre>`;
      }
      return `<figure class="history">${body}${caption}</figure>`;
    })
    .join('\n');
}
