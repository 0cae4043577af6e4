// The signed-in user's tokens: login, logout, and an access token that is always
// fresh. Access tokens live 15 minutes; refresh tokens rotate on every use (a used
// one presented again revokes its whole family), so one refresh at a time is made
// and its result shared by every caller.
//
// The tokens live in this page's memory only (memoryStore, the default): never in
// localStorage, sessionStorage or a cookie, where any script of the page could read
// the refresh token and keep a session alive elsewhere. A reload or a new tab signs
// in again; sessionMarks tells the login page why (see web/README.md, "Tokens").

import type { TokenPair, User } from './types';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, epoch milliseconds. */
  expiresAt: number;
  user: User;
}

/** Where the tokens are kept while the page lives (memory: see memoryStore). */
export interface TokenStore {
  load(): Tokens | null;
  save(tokens: Tokens): void;
  clear(): void;
}

/** The session ended: the refresh token is no longer accepted; sign in again. */
export class SessionExpired extends Error {
  constructor(message = 'Your session has ended; please sign in again.') {
    super(message);
    this.name = 'SessionExpired';
  }
}

/** An answer of the API that is not 2xx, with its error body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly fieldErrors: { field: string; message: string }[];

  constructor(status: number, body: unknown, fallback: string) {
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const errors = Array.isArray(b.errors) ? (b.errors as { field: string; message: string }[]) : [];
    const message =
      (typeof b.message === 'string' && b.message) ||
      (errors.length ? errors.map((e) => `${e.field}: ${e.message}`).join('; ') : '') ||
      (typeof b.error === 'string' && b.error) ||
      fallback;
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof b.error === 'string' ? b.error : undefined;
    this.fieldErrors = errors;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface SessionOptions {
  apiBaseUrl: string;
  fetch?: FetchLike;
  store?: TokenStore;
  now?: () => number;
  /** Refresh this long before the access token expires (default 60 s). */
  refreshMarginMs?: number;
}

type Listener = (tokens: Tokens | null, reason?: 'expired' | 'signed-out') => void;

export class Session {
  private tokens: Tokens | null;
  private refreshing: Promise<Tokens> | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly fetchFn: FetchLike;
  private readonly store: TokenStore;
  private readonly now: () => number;
  private readonly margin: number;
  readonly apiBaseUrl: string;

  constructor(options: SessionOptions) {
    this.apiBaseUrl = options.apiBaseUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.store = options.store ?? memoryStore();
    this.now = options.now ?? Date.now;
    this.margin = options.refreshMarginMs ?? 60_000;
    this.tokens = this.store.load();
  }

  get user(): User | null {
    return this.tokens?.user ?? null;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  /** Called with the new tokens after login and every refresh, with null after logout or expiry. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async login(email: string, password: string): Promise<User> {
    const pair = await this.post<TokenPair>('/v1/auth/login', { email, password });
    const user = pair.user ?? (await this.me(pair.access_token));
    this.set(this.fromPair(pair, user));
    return user;
  }

  /** Revokes the refresh token (best effort) and forgets the tokens. */
  async logout(): Promise<void> {
    const tokens = this.tokens;
    this.clear('signed-out');
    if (tokens) {
      try {
        await this.post('/v1/auth/logout', { refresh_token: tokens.refreshToken });
      } catch {
        // the tokens are gone from this tab either way
      }
    }
  }

  /**
   * A valid access token: the current one, or a refreshed one when it expires within
   * the margin (or `force`, e.g. after the API answered 401). Throws SessionExpired when
   * the refresh token is refused; other failures (network) leave the session as it is.
   */
  async accessToken(force = false): Promise<string> {
    const tokens = this.tokens;
    if (!tokens) throw new SessionExpired('Not signed in.');
    if (!force && tokens.expiresAt - this.margin > this.now()) return tokens.accessToken;
    return (await this.refresh(tokens)).accessToken;
  }

  /** Milliseconds until the access token should be refreshed (0 when due). */
  msUntilRefresh(): number {
    if (!this.tokens) return Infinity;
    return Math.max(0, this.tokens.expiresAt - this.margin - this.now());
  }

  private refresh(stale: Tokens): Promise<Tokens> {
    if (this.refreshing) return this.refreshing;
    // another caller may have refreshed since `stale` was read
    if (this.tokens && this.tokens.refreshToken !== stale.refreshToken) {
      return Promise.resolve(this.tokens);
    }
    const run = async (): Promise<Tokens> => {
      let pair: TokenPair;
      try {
        pair = await this.post<TokenPair>('/v1/auth/refresh', { refresh_token: stale.refreshToken });
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 400)) {
          this.clear('expired');
          throw new SessionExpired();
        }
        throw error;
      }
      const next = this.fromPair(pair, pair.user ?? stale.user);
      this.set(next);
      return next;
    };
    this.refreshing = run().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private fromPair(pair: TokenPair, user: User): Tokens {
    return {
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      expiresAt: this.now() + (pair.expires_in ?? 900) * 1000,
      user,
    };
  }

  private set(tokens: Tokens): void {
    this.tokens = tokens;
    this.store.save(tokens);
    for (const listener of this.listeners) listener(tokens);
  }

  private clear(reason: 'expired' | 'signed-out'): void {
    const had = this.tokens !== null;
    this.tokens = null;
    this.store.clear();
    if (had) for (const listener of this.listeners) listener(null, reason);
  }

  private async me(accessToken: string): Promise<User> {
    const response = await this.fetchFn(`${this.apiBaseUrl}/v1/auth/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    const body = await readBody(response);
    if (!response.ok) throw new ApiError(response.status, body, `GET /v1/auth/me: ${response.status}`);
    return body as User;
  }

  private async post<T>(path: string, payload: unknown): Promise<T> {
    const response = await this.fetchFn(`${this.apiBaseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const body = await readBody(response);
    if (!response.ok) {
      const fallback = response.status === 401 ? 'Wrong email or password.' : `POST ${path}: ${response.status}`;
      throw new ApiError(response.status, body, fallback);
    }
    return body as T;
  }
}

export async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

export function memoryStore(initial: Tokens | null = null): TokenStore {
  let value = initial;
  return {
    load: () => value,
    save: (tokens) => {
      value = tokens;
    },
    clear: () => {
      value = null;
    },
  };
}

/** The part of the Web Storage API sessionMarks uses (the tab's sessionStorage in the page). */
export type MarkStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Where earlier versions kept the tokens themselves (sessionStorage); removed at start. */
export const LEGACY_TOKENS_KEY = 'pharmaguard.session';
/** Set while this tab is signed in: a flag, no token. */
export const SIGNED_IN_KEY = 'pharmaguard.signed-in';

export const RELOAD_NOTICE =
  'You were signed out because the page was reloaded: for your safety the dashboard keeps your session in this page only. Please sign in again.';

/**
 * What the tab remembers about its session across a reload: only that it was signed in,
 * so that the login page can say why it is back. `storage` null (no Web Storage, or it
 * refuses) remembers nothing.
 */
export function sessionMarks(storage: MarkStorage | null) {
  const attempt = <T>(action: () => T, fallback: T): T => {
    if (!storage) return fallback;
    try {
      return action();
    } catch {
      return fallback;
    }
  };
  return {
    /** At start: removes what earlier versions stored and says whether a session was lost. */
    takeNotice(): string | null {
      return attempt(() => {
        storage!.removeItem(LEGACY_TOKENS_KEY);
        const wasSignedIn = storage!.getItem(SIGNED_IN_KEY) !== null;
        storage!.removeItem(SIGNED_IN_KEY);
        return wasSignedIn ? RELOAD_NOTICE : null;
      }, null);
    },
    /** After login and every refresh (true), after logout or expiry (false). */
    signedIn(yes: boolean): void {
      attempt(() => (yes ? storage!.setItem(SIGNED_IN_KEY, '1') : storage!.removeItem(SIGNED_IN_KEY)), undefined);
    },
  };
}

/** The tab's sessionStorage, or null where there is none. */
export function tabStorage(): MarkStorage | null {
  try {
    return typeof window !== 'undefined' ? window.sessionStorage : null;
  } catch {
    return null;
  }
}
