/**
 * The bai-lsp wire contract (docs/protocol.md), as TypeScript types.
 *
 * Kept in one place so that a change of the contract is one edit here and a compile error
 * everywhere it matters.
 */

export const Commands = {
  runSelection: 'backendai.runSelection',
  runCell: 'backendai.runCell',
  runFile: 'backendai.runFile',
  sendInput: 'backendai.sendInput',
  interrupt: 'backendai.interrupt',
  sessionStart: 'backendai.session.start',
  sessionRestart: 'backendai.session.restart',
  sessionDestroy: 'backendai.session.destroy',
  sessionStatus: 'backendai.session.status',
  sessionList: 'backendai.session.list',
} as const;

export const Notifications = {
  runStarted: 'backendai/runStarted',
  output: 'backendai/output',
  runFinished: 'backendai/runFinished',
  sessionStatus: 'backendai/sessionStatus',
} as const;

export const Requests = {
  input: 'backendai/input',
} as const;

export type RunMode = 'query' | 'batch';
export type RunStatus = 'finished' | 'interrupted' | 'failed' | 'timeout';
export type SessionState = 'starting' | 'idle' | 'busy' | 'waiting-input' | 'terminated' | 'error';

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface RunResult {
  runId: string;
  status: RunStatus;
  exitCode: number | null;
  durationMs: number;
}

export interface RunStartedParams {
  runId: string;
  uri: string;
  mode: RunMode;
  sessionName: string;
}

export interface RunFinishedParams extends RunResult {
  uri: string;
  outputFile?: string;
}

export type OutputRecord =
  | { type: 'stdout' | 'stderr'; text: string }
  | { type: 'media'; mime: string; data: string }
  | { type: 'html'; data: string };

export interface OutputParams {
  runId: string;
  seq: number;
  records: OutputRecord[];
}

export interface SessionStatusParams {
  workspace: string;
  sessionName: string;
  status: SessionState;
  image: string;
  message?: string;
  reason?: string;
}

export interface SessionSummary {
  name: string;
  status: string;
  image: string;
  workspace?: string;
}

export interface SessionListResult {
  sessions: SessionSummary[];
}

export interface InputRequestParams {
  runId: string;
  prompt: string;
  password: boolean;
}

/** Stable JSON-RPC error codes of the server (docs/protocol.md, "Errors"). */
export const ErrorCodes = {
  invalidParams: -32602,
  unknownDocument: -32050,
  rangeOutOfBounds: -32051,
  noSession: -32052,
  backendUnreachable: -32053,
  credentialsRefused: -32054,
  backendError: -32055,
  unknownRun: -32056,
  invalidSettings: -32057,
} as const;
