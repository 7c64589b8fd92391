/**
 * Script of the "Backend.AI Media" panel: images (PNG, JPEG, GIF, SVG) as `data:` URLs, so an
 * SVG's scripts never run, and HTML in a sandboxed frame without scripts.
 */

import type { MediaItem, MediaMessage, MediaViewEvent } from './messages';

interface VsCodeApi {
  postMessage(message: MediaViewEvent): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const gallery = document.getElementById('gallery') as HTMLElement;
const empty = document.getElementById('empty') as HTMLElement;

function add(item: MediaItem): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'media';
  figure.setAttribute('data-run-id', item.runId);
  figure.setAttribute('data-mime', item.mime);
  if (item.mime === 'text/html') {
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', '');
    frame.srcdoc = item.data;
    figure.appendChild(frame);
  } else {
    const img = document.createElement('img');
    img.alt = `${item.mime} output of run ${item.runId}`;
    img.src = `data:${item.mime};base64,${item.data}`;
    figure.appendChild(img);
  }
  const caption = document.createElement('figcaption');
  caption.textContent = item.caption;
  figure.appendChild(caption);
  gallery.appendChild(figure);
  empty.hidden = true;
  return figure;
}

window.addEventListener('message', (event: MessageEvent<MediaMessage>) => {
  const msg = event.data;
  if (msg.type === 'clear') {
    gallery.textContent = '';
    empty.hidden = false;
    return;
  }
  let last: HTMLElement | undefined;
  for (const item of msg.items) {
    last = add(item);
  }
  while (gallery.children.length > 100) {
    gallery.firstElementChild?.remove();
  }
  last?.scrollIntoView({ block: 'end' });
});

vscode.postMessage({ type: 'ready' });
