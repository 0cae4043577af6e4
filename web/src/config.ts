// The deployment's settings, read at start from config.json next to index.html
// (web/deploy writes it from the stack's outputs).

export interface AppConfig {
  /** Base URL of the REST API, without a trailing slash. */
  apiBaseUrl: string;
  /** The WebSocket API (protocol v1); empty when the stage has none. */
  wsUrl: string;
  stage: string;
  /** Map tiles URL template; empty for none (a plain background). */
  tileUrl: string;
  tileAttribution: string;
}

const DEFAULT_TILES = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
const DEFAULT_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';

export function parseConfig(raw: unknown): AppConfig {
  const value = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const text = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : undefined);
  const apiBaseUrl = text('apiBaseUrl');
  if (!apiBaseUrl) throw new Error('config.json has no apiBaseUrl');
  return {
    apiBaseUrl: apiBaseUrl.replace(/\/+$/, ''),
    wsUrl: text('wsUrl') ?? '',
    stage: text('stage') ?? '',
    tileUrl: text('tileUrl') ?? DEFAULT_TILES,
    tileAttribution: text('tileAttribution') ?? DEFAULT_ATTRIBUTION,
  };
}

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch('config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
