/**
 * What the user reads about runs and sessions, as pure functions of the server's payloads
 * (no `vscode` import, so the node unit tests check them).
 */

import { RunFinished, SessionReasons, SessionStatus } from '../protocol';

/** Run ids are long uuids; eight characters are enough to tell runs apart on screen. */
export function shortId(runId: string): string {
  return runId.length > 12 ? runId.slice(0, 8) : runId;
}

/** The warning for a failed run: the server's reason (`runFinished.message`) when it gave one. */
export function failedRunText(p: Pick<RunFinished, 'runId' | 'message'>): string {
  const why = p.message?.trim();
  return why
    ? `Backend.AI: run ${shortId(p.runId)} failed: ${why}`
    : `Backend.AI: run ${shortId(p.runId)} could not finish; the output view shows what the backend said.`;
}

/**
 * The warning a session status is worth, if any: a session that failed or ended is news,
 * unless the server says this user destroyed it (`reason`; nothing is guessed from timing).
 */
export function endedSessionWarning(p: SessionStatus, before: string | undefined): string | undefined {
  if (before === p.status || p.reason === SessionReasons.destroyedByUser) {
    return undefined;
  }
  if (p.status === 'error' || (p.status === 'terminated' && before !== undefined && before !== 'terminated')) {
    const what = p.status === 'error' ? 'failed' : 'was terminated';
    return `Backend.AI session ${p.sessionName} ${what}${p.message ? `: ${p.message}` : '.'}`;
  }
  return undefined;
}
