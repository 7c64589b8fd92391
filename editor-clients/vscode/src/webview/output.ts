/**
 * Script of the "Backend.AI: Output" view. Renders runs as blocks (header, console lines,
 * footer) with the terminal model so that colours and `\r` progress bars look the way they
 * would in a terminal, and keeps the DOM bounded (view.maxLines).
 */

import type { OutputMessage, OutputViewEvent } from './messages';
import { Segment, TerminalModel } from './terminalModel';

interface VsCodeApi {
  postMessage(message: OutputViewEvent): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface RunBlock {
  section: HTMLElement;
  body: HTMLElement;
  model: TerminalModel;
  currentEl?: HTMLElement;
  lines: number;
}

const vscode = acquireVsCodeApi();
const log = document.getElementById('log') as HTMLElement;
const empty = document.getElementById('empty') as HTMLElement;
const runs = new Map<string, RunBlock>();
let maxLines = 5000;
let totalLines = 0;

function atBottom(): boolean {
  const el = document.scrollingElement ?? document.documentElement;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

function scrollToBottom(): void {
  const el = document.scrollingElement ?? document.documentElement;
  el.scrollTop = el.scrollHeight;
}

function colourAttr(value: string | undefined, el: HTMLElement, prop: 'color' | 'backgroundColor'): void {
  if (!value) {
    return;
  }
  if (value.startsWith('ansi-')) {
    el.classList.add(`${prop === 'color' ? 'fg' : 'bg'}-${value}`);
  } else {
    el.style[prop] = value;
  }
}

function renderLine(el: HTMLElement, segments: Segment[]): void {
  el.textContent = '';
  let stderr = false;
  for (const seg of segments) {
    const span = document.createElement('span');
    span.textContent = seg.text;
    span.className = `s-${seg.stream}`;
    const st = seg.style;
    const fg = st.inverse ? st.bg ?? 'ansi-inverse-fg' : st.fg;
    const bg = st.inverse ? st.fg ?? 'ansi-inverse-bg' : st.bg;
    colourAttr(fg, span, 'color');
    colourAttr(bg, span, 'backgroundColor');
    if (st.bold) span.classList.add('bold');
    if (st.dim) span.classList.add('dim');
    if (st.italic) span.classList.add('italic');
    if (st.underline) span.classList.add('underline');
    el.appendChild(span);
    stderr = stderr || seg.stream === 'stderr';
  }
  el.classList.toggle('line-stderr', stderr);
  if (segments.length === 0) {
    el.appendChild(document.createTextNode('\u200b'));
  }
}

function trim(): void {
  while (totalLines > maxLines) {
    const first = log.querySelector('section.run');
    if (!first) {
      break;
    }
    const id = first.getAttribute('data-run-id') ?? '';
    const block = runs.get(id);
    const line = first.querySelector('.line');
    if (!block || !line || block.lines <= 1) {
      totalLines -= block ? block.lines : 0;
      first.remove();
      runs.delete(id);
      continue;
    }
    line.remove();
    block.lines--;
    totalLines--;
    if (!first.querySelector('.trimmed')) {
      const note = document.createElement('div');
      note.className = 'trimmed';
      note.textContent = `… older lines dropped (view.maxLines = ${maxLines})`;
      block.body.prepend(note);
    }
  }
}

function block(runId: string): RunBlock {
  let b = runs.get(runId);
  if (!b) {
    const section = document.createElement('section');
    section.className = 'run running';
    section.setAttribute('data-run-id', runId);
    const header = document.createElement('header');
    header.className = 'run-header';
    header.textContent = `▶ run ${runId.slice(0, 8)}`;
    const body = document.createElement('div');
    body.className = 'run-body';
    section.append(header, body);
    log.appendChild(section);
    b = { section, body, model: new TerminalModel(), lines: 0 };
    runs.set(runId, b);
    empty.hidden = true;
  }
  return b;
}

function newLine(b: RunBlock): HTMLElement {
  const el = document.createElement('div');
  el.className = 'line';
  b.body.appendChild(el);
  b.lines++;
  totalLines++;
  return el;
}

function write(b: RunBlock, text: string, stream: Segment['stream']): void {
  const res = b.model.write(text, stream);
  for (const line of res.committed) {
    const el = b.currentEl ?? newLine(b);
    renderLine(el, line);
    b.currentEl = undefined;
  }
  if (res.current.length > 0) {
    const el = b.currentEl ?? newLine(b);
    renderLine(el, res.current);
    b.currentEl = el;
  } else if (b.currentEl && res.currentChanged) {
    renderLine(b.currentEl, []);
  }
}

function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = ms / 1000;
  if (s < 60) {
    return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  }
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

function handle(msg: OutputMessage): void {
  switch (msg.type) {
    case 'batch':
      msg.messages.forEach(handle);
      return;
    case 'config':
      maxLines = msg.maxLines;
      trim();
      return;
    case 'clear':
      log.textContent = '';
      runs.clear();
      totalLines = 0;
      empty.hidden = false;
      return;
    case 'runStarted': {
      const b = block(msg.runId);
      const header = b.section.querySelector('.run-header') as HTMLElement;
      header.textContent = '';
      const title = document.createElement('span');
      title.className = 'title';
      title.textContent = `▶ ${msg.title}`;
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = `${msg.detail} · ${msg.time}`;
      header.append(title, detail);
      return;
    }
    case 'text':
      write(block(msg.runId), msg.text, msg.stream);
      break;
    case 'note': {
      const b = block(msg.runId);
      const rest = b.model.flush();
      if (rest && b.currentEl) {
        renderLine(b.currentEl, rest);
      }
      b.currentEl = undefined;
      const el = newLine(b);
      el.classList.add('note', `note-${msg.kind}`);
      if (msg.kind === 'media' || msg.kind === 'html') {
        const a = document.createElement('a');
        a.href = '#';
        a.textContent = msg.text;
        a.addEventListener('click', (e) => {
          e.preventDefault();
          vscode.postMessage({ type: 'showMedia' });
        });
        el.appendChild(a);
      } else {
        el.textContent = msg.text;
      }
      break;
    }
    case 'runFinished': {
      const b = block(msg.runId);
      const rest = b.model.flush();
      if (rest && b.currentEl) {
        renderLine(b.currentEl, rest);
      }
      b.currentEl = undefined;
      b.section.classList.remove('running');
      b.section.classList.add(`status-${msg.status}`);
      const footer = document.createElement('footer');
      footer.className = 'run-footer';
      footer.setAttribute('data-status', msg.status);
      const took = formatDuration(msg.durationMs);
      let text: string;
      if (msg.status === 'finished') {
        text = msg.exitCode ? `✖ exited with code ${msg.exitCode} after ${took}` : `✔ finished in ${took}`;
        if (msg.exitCode) footer.classList.add('error');
      } else if (msg.status === 'interrupted') {
        text = `■ interrupted after ${took}`;
      } else if (msg.status === 'timeout') {
        text = `⏱ stopped by the backend's execution timeout after ${took}`;
        footer.classList.add('error');
      } else {
        text = `⚠ failed after ${took}`;
        footer.classList.add('error');
      }
      if (msg.message && msg.status !== 'finished') {
        text += `: ${msg.message}`;
      }
      footer.textContent = text;
      if (msg.outputFile) {
        const a = document.createElement('a');
        a.href = '#';
        a.textContent = ' — full output';
        const file = msg.outputFile;
        a.addEventListener('click', (e) => {
          e.preventDefault();
          vscode.postMessage({ type: 'openFile', path: file });
        });
        footer.appendChild(a);
      }
      b.section.appendChild(footer);
      break;
    }
  }
  trim();
}

window.addEventListener('message', (event: MessageEvent<OutputMessage>) => {
  const follow = atBottom();
  handle(event.data);
  if (follow) {
    scrollToBottom();
  }
});

vscode.postMessage({ type: 'ready' });
