/**
 * The settings object sent to the server (initializationOptions and the `backendai`
 * section of workspace/configuration): every server setting the user set, plus the secret.
 *
 * Which settings exist comes from the generated contract (`SERVER_SETTING_KEYS`), so every
 * documented server setting can be set in VS Code and none is copied here by hand. Only
 * values the user set are sent: the server's own defaults and the `BACKEND_*` variables
 * apply to the rest. Endpoint and credentials are read from user settings only, so a
 * checked-out repository cannot send the user's keypair to a server of its choosing.
 */

import { SERVER_SETTING_KEYS, USER_ONLY_SETTING_KEYS } from './protocol';

export type ServerSettingsObject = Record<string, unknown>;

/**
 * One setting (a dotted key under `backendai.`, e.g. `output.maxBytesPerRun`) as the user
 * set it, `undefined` when not set; `userOnly`: only the user's (machine) settings count.
 */
export type SettingReader = (key: string, userOnly: boolean) => unknown;

const USER_ONLY: ReadonlySet<string> = new Set(USER_ONLY_SETTING_KEYS);

export function isUserOnly(key: string): boolean {
  return USER_ONLY.has(key);
}

export function assembleSettings(read: SettingReader, secretKey: string | undefined): ServerSettingsObject {
  const out: ServerSettingsObject = {};
  for (const key of SERVER_SETTING_KEYS) {
    let value = read(key, isUserOnly(key));
    if (typeof value === 'string') {
      value = value.trim();
    }
    if (value === undefined || value === null || value === '') {
      continue;
    }
    const dot = key.indexOf('.');
    if (dot < 0) {
      out[key] = value;
      continue;
    }
    // `batch.exec` → {batch: {exec}}; a whole `batch` object set by the user merges in
    const head = key.slice(0, dot);
    const inner = (typeof out[head] === 'object' && out[head] !== null ? out[head] : {}) as Record<string, unknown>;
    inner[key.slice(dot + 1)] = value;
    out[head] = inner;
  }
  if (secretKey) {
    out.secretKey = secretKey;
  }
  return out;
}

/** The key under which a secret key is stored: one per endpoint and access key. */
export function secretStorageKey(endpoint: string, accessKey: string): string {
  return `backendai.secretKey:${endpoint.trim() || '(BACKEND_ENDPOINT)'}#${accessKey.trim()}`;
}
