/** Messages between the extension host and the output / media webviews. */

import type { Stream } from './terminalModel';

export type OutputMessage =
  | { type: 'runStarted'; runId: string; title: string; detail: string; time: string }
  | { type: 'text'; runId: string; stream: Stream; text: string }
  | { type: 'note'; runId: string; kind: 'media' | 'html' | 'info' | 'warning'; text: string }
  | {
      type: 'runFinished';
      runId: string;
      status: string;
      exitCode: number | null;
      durationMs: number;
      outputFile?: string;
      /** Why the run failed or was cut short (shown in its footer). */
      message?: string;
    }
  | { type: 'clear' }
  | { type: 'config'; maxLines: number }
  | { type: 'batch'; messages: OutputMessage[] };

export type OutputViewEvent = { type: 'ready' } | { type: 'showMedia' } | { type: 'openFile'; path: string };

export interface MediaItem {
  runId: string;
  caption: string;
  mime: string;
  /** base64 for images (SVG too), raw HTML text for text/html. */
  data: string;
}

export type MediaMessage = { type: 'media'; items: MediaItem[] } | { type: 'clear' };

export type MediaViewEvent = { type: 'ready' };
