/** Pure text of the launcher and the status bar (no vscode import, unit-tested). */

/** "cpu 2, mem 4.0 GiB" for resource slots (memory in bytes). */
export function describeSlots(slots: Record<string, string> | undefined): string {
  return Object.keys(slots ?? {})
    .sort()
    .map((k) => (k === 'mem' ? `mem ${(Number(slots![k]) / 1073741824).toFixed(1)} GiB` : `${k} ${slots![k]}`))
    .join(', ');
}

/** Seconds as m:ss or h:mm:ss. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number): string => n.toString().padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}` : `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

