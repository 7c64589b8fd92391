/**
 * A small terminal model for streamed console output: ANSI SGR colours, `\r` progress bars,
 * backspace and erase-line, split escape sequences across chunks.
 *
 * VS Code's output channels print `\r` progress bars as thousands of lines
 * (microsoft/vscode#183971); this model overwrites the current line like a terminal does, so
 * a tqdm bar stays one line. It is DOM-free so that it can be unit-tested in Node; the output
 * webview renders what it returns.
 */

export type Stream = 'stdout' | 'stderr' | 'input' | 'info';

export interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Segment {
  text: string;
  stream: Stream;
  style: Style;
}

/** The lines completed by a `write` and the (possibly rewritten) current line. */
export interface WriteResult {
  committed: Segment[][];
  current: Segment[];
  /** True when the current line's content changed and must be re-rendered. */
  currentChanged: boolean;
}

interface Cell {
  ch: string;
  stream: Stream;
  style: Style;
}

const BASIC_COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** xterm's 256-colour palette entry as a CSS colour (16..255), or a named basic colour. */
export function colour256(n: number): string {
  if (n < 8) {
    return `ansi-${BASIC_COLOURS[n]}`;
  }
  if (n < 16) {
    return `ansi-bright-${BASIC_COLOURS[n - 8]}`;
  }
  if (n < 232) {
    const i = n - 16;
    const steps = [0, 95, 135, 175, 215, 255];
    const r = steps[Math.floor(i / 36) % 6];
    const g = steps[Math.floor(i / 6) % 6];
    const b = steps[i % 6];
    return `rgb(${r},${g},${b})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey},${grey},${grey})`;
}

/** Applies one SGR parameter list to a style and returns the new style. */
export function applySgr(style: Style, params: number[]): Style {
  let s: Style = { ...style };
  if (params.length === 0) {
    params = [0];
  }
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) {
      s = {};
    } else if (p === 1) {
      s.bold = true;
    } else if (p === 2) {
      s.dim = true;
    } else if (p === 3) {
      s.italic = true;
    } else if (p === 4) {
      s.underline = true;
    } else if (p === 7) {
      s.inverse = true;
    } else if (p === 22) {
      s.bold = false;
      s.dim = false;
    } else if (p === 23) {
      s.italic = false;
    } else if (p === 24) {
      s.underline = false;
    } else if (p === 27) {
      s.inverse = false;
    } else if (p >= 30 && p <= 37) {
      s.fg = `ansi-${BASIC_COLOURS[p - 30]}`;
    } else if (p === 39) {
      delete s.fg;
    } else if (p >= 40 && p <= 47) {
      s.bg = `ansi-${BASIC_COLOURS[p - 40]}`;
    } else if (p === 49) {
      delete s.bg;
    } else if (p >= 90 && p <= 97) {
      s.fg = `ansi-bright-${BASIC_COLOURS[p - 90]}`;
    } else if (p >= 100 && p <= 107) {
      s.bg = `ansi-bright-${BASIC_COLOURS[p - 100]}`;
    } else if (p === 38 || p === 48) {
      const key = p === 38 ? 'fg' : 'bg';
      if (params[i + 1] === 5 && i + 2 < params.length) {
        s[key] = colour256(params[i + 2]);
        i += 2;
      } else if (params[i + 1] === 2 && i + 4 < params.length) {
        const [r, g, b] = params.slice(i + 2, i + 5).map((v) => Math.max(0, Math.min(255, v)));
        s[key] = `rgb(${r},${g},${b})`;
        i += 4;
      }
    }
  }
  return s;
}

function sameStyle(a: Style, b: Style): boolean {
  return (
    a.fg === b.fg &&
    a.bg === b.bg &&
    !!a.bold === !!b.bold &&
    !!a.dim === !!b.dim &&
    !!a.italic === !!b.italic &&
    !!a.underline === !!b.underline &&
    !!a.inverse === !!b.inverse
  );
}

function toSegments(cells: Cell[]): Segment[] {
  const out: Segment[] = [];
  for (const c of cells) {
    const last = out[out.length - 1];
    if (last && last.stream === c.stream && sameStyle(last.style, c.style)) {
      last.text += c.ch;
    } else {
      out.push({ text: c.ch, stream: c.stream, style: c.style });
    }
  }
  return out;
}

/** Longest escape sequence kept pending across chunks before it is dropped as garbage. */
const MAX_PENDING = 256;

export class TerminalModel {
  private line: Cell[] = [];
  private col = 0;
  private readonly styles = new Map<Stream, Style>();
  private pending = new Map<Stream, string>();

  /** Feeds text of one stream; returns the completed lines and the current line. */
  write(text: string, stream: Stream): WriteResult {
    const committed: Segment[][] = [];
    let changed = false;
    let style = this.styles.get(stream) ?? {};
    const data = (this.pending.get(stream) ?? '') + text;
    this.pending.delete(stream);
    let i = 0;
    const put = (ch: string): void => {
      const cell = { ch, stream, style };
      if (this.col < this.line.length) {
        this.line[this.col] = cell;
      } else {
        while (this.line.length < this.col) {
          this.line.push({ ch: ' ', stream, style: {} });
        }
        this.line.push(cell);
      }
      this.col++;
      changed = true;
    };
    while (i < data.length) {
      const ch = data[i];
      if (ch === '\n') {
        committed.push(toSegments(this.line));
        this.line = [];
        this.col = 0;
        changed = true;
        i++;
      } else if (ch === '\r') {
        this.col = 0;
        i++;
      } else if (ch === '\b') {
        this.col = Math.max(0, this.col - 1);
        i++;
      } else if (ch === '\t') {
        const next = (Math.floor(this.col / 8) + 1) * 8;
        while (this.col < next) {
          put(' ');
        }
        i++;
      } else if (ch === '\x1b') {
        const consumed = this.escape(data, i, style);
        if (consumed === 0) {
          // incomplete sequence at the end of the chunk: keep it for the next write
          if (data.length - i <= MAX_PENDING) {
            this.pending.set(stream, data.slice(i));
            break;
          }
          i++; // an overlong "sequence" is garbage: drop the ESC and print the rest
          continue;
        }
        if (consumed.style) {
          style = consumed.style;
        }
        if (consumed.erased) {
          changed = true;
        }
        i += consumed.length;
      } else if (ch === '\x07' || (ch < ' ' && ch !== '\x1b')) {
        i++; // bell and other control characters are not printable
      } else {
        put(ch);
        i++;
      }
    }
    this.styles.set(stream, style);
    return { committed, current: toSegments(this.line), currentChanged: changed };
  }

  /** The plain text of the current (unterminated) line. */
  currentText(): string {
    return this.line.map((c) => c.ch).join('');
  }

  /** Whether the current (unterminated) line has content. */
  get hasCurrent(): boolean {
    return this.line.length > 0;
  }

  /** Ends the current line (e.g. when a run finishes) and resets colours. */
  flush(): Segment[] | undefined {
    const line = this.line.length > 0 ? toSegments(this.line) : undefined;
    this.line = [];
    this.col = 0;
    this.styles.clear();
    this.pending.clear();
    return line;
  }

  private escape(
    data: string,
    i: number,
    style: Style,
  ): 0 | { length: number; style?: Style; erased?: boolean } {
    if (i + 1 >= data.length) {
      return 0;
    }
    const kind = data[i + 1];
    if (kind === '[') {
      let j = i + 2;
      while (j < data.length && /[0-9;?:<=>]/.test(data[j])) {
        j++;
      }
      if (j >= data.length) {
        return 0;
      }
      const final = data[j];
      const raw = data.slice(i + 2, j);
      const length = j - i + 1;
      const nums = raw === '' ? [] : raw.split(/[;:]/).map((v) => (v === '' ? 0 : parseInt(v, 10)));
      if (final === 'm') {
        return { length, style: applySgr(style, nums.filter((n) => !Number.isNaN(n))) };
      }
      if (final === 'K') {
        const mode = nums[0] ?? 0;
        if (mode === 0) {
          this.line.length = Math.min(this.line.length, this.col);
        } else if (mode === 1) {
          for (let k = 0; k < Math.min(this.col, this.line.length); k++) {
            this.line[k] = { ch: ' ', stream: this.line[k].stream, style: {} };
          }
        } else {
          this.line = [];
        }
        return { length, erased: true };
      }
      if (final === 'G') {
        this.col = Math.max(0, (nums[0] || 1) - 1);
        return { length };
      }
      if (final === 'C') {
        this.col += nums[0] || 1;
        return { length };
      }
      if (final === 'D') {
        this.col = Math.max(0, this.col - (nums[0] || 1));
        return { length };
      }
      // cursor movement between lines, screen clearing, modes: not representable in a log view
      return { length };
    }
    if (kind === ']') {
      // OSC ... BEL or ST: titles and hyperlinks; dropped
      for (let j = i + 2; j < data.length; j++) {
        if (data[j] === '\x07') {
          return { length: j - i + 1 };
        }
        if (data[j] === '\x1b' && data[j + 1] === '\\') {
          return { length: j - i + 2 };
        }
      }
      return 0;
    }
    return { length: 2 };
  }
}
