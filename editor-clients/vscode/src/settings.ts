/**
 * The settings object sent to the server (initializationOptions and the `backendai`
 * section of workspace/configuration), built from VS Code settings plus the secret key.
 *
 * Empty values are left out so the server's own defaults (the `BACKEND_*` variables, the
 * embedded gateway) apply. Endpoint and credentials are read from user settings only,
 * whatever VS Code's scope handling does, so a checked-out repository cannot send the
 * user's keypair to a server of its choosing.
 */

export interface RawSettings {
  endpoint: string;
  endpointType: string;
  accessKey: string;
  domain: string;
  group: string;
  image: string;
  images: Record<string, string>;
  resources: Record<string, unknown>;
  mounts: string[];
  environ: Record<string, string>;
  sessionName: string;
  onExit: string;
  batch: Record<string, unknown>;
  maxBytesPerRun: number;
  flushIntervalMs: number;
  /** Ports code in the session listens on: `[{name, port, protocol?}]` (preopen ports). */
  apps?: Array<Record<string, unknown>>;
}

export type ServerSettingsObject = Record<string, unknown>;

function nonEmptyObject(v: Record<string, unknown> | undefined): boolean {
  return !!v && typeof v === 'object' && Object.keys(v).length > 0;
}

export function assembleSettings(raw: RawSettings, secretKey: string | undefined): ServerSettingsObject {
  const out: ServerSettingsObject = {};
  const str = (key: keyof RawSettings, value: string): void => {
    if (typeof value === 'string' && value.trim() !== '') {
      out[key] = value.trim();
    }
  };
  str('endpoint', raw.endpoint);
  str('endpointType', raw.endpointType);
  str('accessKey', raw.accessKey);
  if (secretKey) {
    out.secretKey = secretKey;
  }
  str('domain', raw.domain);
  str('group', raw.group);
  str('image', raw.image);
  if (nonEmptyObject(raw.images)) {
    out.images = raw.images;
  }
  out.resources = raw.resources ?? {};
  if (Array.isArray(raw.mounts) && raw.mounts.length > 0) {
    out.mounts = raw.mounts;
  }
  out.environ = raw.environ ?? {};
  str('sessionName', raw.sessionName);
  str('onExit', raw.onExit);
  if (nonEmptyObject(raw.batch)) {
    out.batch = raw.batch;
  }
  out.output = { maxBytesPerRun: raw.maxBytesPerRun, flushIntervalMs: raw.flushIntervalMs };
  if (Array.isArray(raw.apps) && raw.apps.length > 0) {
    out.apps = raw.apps;
  }
  return out;
}

/** The key under which a secret key is stored: one per endpoint and access key. */
export function secretStorageKey(endpoint: string, accessKey: string): string {
  return `backendai.secretKey:${endpoint.trim() || '(BACKEND_ENDPOINT)'}#${accessKey.trim()}`;
}
