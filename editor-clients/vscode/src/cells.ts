/**
 * Where the `# %%` / `// %%` cells of a document start, for the "▶ Run on Backend.AI" code
 * lenses. The server decides what a cell contains (docs/protocol.md, `backendai.runCell`);
 * this only has to find the marker lines, so it is pure and unit-tested.
 */

const MARKER = /^\s*(?:#|\/\/)\s*%%/;

/** Zero-based line numbers of the cell markers in `text`. */
export function cellMarkerLines(text: string): number[] {
  const lines = text.split(/\r?\n/);
  const found: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (MARKER.test(lines[i])) {
      found.push(i);
    }
  }
  return found;
}

/** The title of a cell: what follows the marker (`# %% Load data` → `Load data`). */
export function cellTitle(line: string): string {
  return line.replace(MARKER, '').replace(/^\s*(\[markdown\])?\s*/, '').trim();
}
