import { describe, expect, it } from 'vitest';
import { ApiClient } from './client';
import {
  LEGACY_TOKENS_KEY,
  memoryStore,
  RELOAD_NOTICE,
  Session,
  SessionExpired,
  sessionMarks,
  SIGNED_IN_KEY,
  type FetchLike,
  type MarkStorage,
  type Tokens,
} from './session';

const user = { id: 'usr-1', email: 'm@example.org', name: 'Mia', org_id: 'org-1', role: 'MANAGER' as const };

/** A fake auth API: rotating refresh tokens, a reused one revokes the family. */
function fakeApi() {
  let issued = 0;
  const valid = new Set<string>();
  const used = new Set<string>();
  const calls: string[] = [];
  let revoked = false;
  let accessOk = (token: string) => token.startsWith('access-');
  const pair = () => {
    issued += 1;
    const refresh = `refresh-${issued}`;
    valid.add(refresh);
    return { access_token: `access-${issued}`, token_type: 'Bearer', expires_in: 900, refresh_token: refresh, user };
  };
  const json = (status: number, body: unknown) =>
    new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fetch: FetchLike = async (url, init) => {
    const path = url.replace('http://api', '');
    calls.push(`${init?.method ?? 'GET'} ${path}`);
    const body = init?.body ? JSON.parse(String(init.body)) : {};
    if (path === '/v1/auth/login') {
      return body.password === 'right' ? json(200, pair()) : json(401, { error: 'invalid_credentials' });
    }
    if (path === '/v1/auth/refresh') {
      const token = body.refresh_token as string;
      if (used.has(token)) revoked = true;
      if (revoked || !valid.has(token)) return json(401, { error: 'invalid_token', message: 'refresh token reused' });
      valid.delete(token);
      used.add(token);
      return json(200, pair());
    }
    if (path === '/v1/auth/logout') return json(204, null);
    const auth = (init?.headers as Record<string, string>)?.authorization ?? '';
    if (!accessOk(auth.replace('Bearer ', ''))) return json(401, { message: 'Unauthorized' });
    return json(200, { items: [], token: auth });
  };
  return {
    fetch,
    calls,
    expireAccess: (predicate: (t: string) => boolean) => {
      accessOk = predicate;
    },
  };
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('Session', () => {
  it('logs in and answers the access token until it is about to expire', async () => {
    const api = fakeApi();
    const time = clock();
    const session = new Session({ apiBaseUrl: 'http://api/', fetch: api.fetch, now: time.now });
    await session.login('m@example.org', 'right');
    expect(session.user?.name).toBe('Mia');
    expect(await session.accessToken()).toBe('access-1');
    time.advance(800_000); // 100 s left, more than the 60 s margin
    expect(await session.accessToken()).toBe('access-1');
    time.advance(50_000); // 50 s left: refresh
    expect(await session.accessToken()).toBe('access-2');
    expect(api.calls.filter((c) => c.includes('refresh'))).toHaveLength(1);
  });

  it('shares one refresh between concurrent callers (a rotated token is never presented twice)', async () => {
    const api = fakeApi();
    const time = clock();
    const session = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch, now: time.now });
    await session.login('m@example.org', 'right');
    time.advance(900_000);
    const tokens = await Promise.all([session.accessToken(), session.accessToken(), session.accessToken(true)]);
    expect(new Set(tokens)).toEqual(new Set(['access-2']));
    expect(api.calls.filter((c) => c.includes('refresh'))).toHaveLength(1);
    // and the next refresh uses the rotated token: still accepted
    time.advance(900_000);
    expect(await session.accessToken()).toBe('access-3');
  });

  it('ends the session when the refresh token is refused and tells its listeners', async () => {
    const api = fakeApi();
    const store = memoryStore({
      accessToken: 'access-old',
      refreshToken: 'refresh-unknown',
      expiresAt: 0,
      user,
    } satisfies Tokens);
    const session = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch, store, now: () => 10 });
    const seen: (string | undefined)[] = [];
    session.subscribe((tokens, reason) => seen.push(tokens ? 'tokens' : reason));
    await expect(session.accessToken()).rejects.toBeInstanceOf(SessionExpired);
    expect(session.signedIn).toBe(false);
    expect(store.load()).toBeNull();
    expect(seen).toEqual(['expired']);
  });

  it('keeps the session when the refresh fails for another reason (offline)', async () => {
    const time = clock();
    let offline = false;
    const api = fakeApi();
    const fetch: FetchLike = (url, init) => (offline ? Promise.reject(new TypeError('Failed to fetch')) : api.fetch(url, init));
    const session = new Session({ apiBaseUrl: 'http://api', fetch, now: time.now });
    await session.login('m@example.org', 'right');
    time.advance(900_000);
    offline = true;
    await expect(session.accessToken()).rejects.toThrow('Failed to fetch');
    expect(session.signedIn).toBe(true);
    offline = false;
    expect(await session.accessToken()).toBe('access-2');
  });

  it('reports a wrong password as a clear error', async () => {
    const session = new Session({ apiBaseUrl: 'http://api', fetch: fakeApi().fetch });
    await expect(session.login('m@example.org', 'wrong')).rejects.toThrow(/invalid_credentials|Wrong email/);
    expect(session.signedIn).toBe(false);
  });

  it('restores the tokens from its store and forgets them at logout', async () => {
    const api = fakeApi();
    const store = memoryStore();
    const first = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch, store });
    await first.login('m@example.org', 'right');
    const second = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch, store });
    expect(second.user?.id).toBe('usr-1');
    await second.logout();
    expect(store.load()).toBeNull();
    expect(api.calls).toContain('POST /v1/auth/logout');
  });
});

describe('ApiClient', () => {
  it('refreshes once and retries a call answered 401 (token expired in flight)', async () => {
    const api = fakeApi();
    const session = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch });
    await session.login('m@example.org', 'right');
    api.expireAccess((t) => t === 'access-2');
    const client = new ApiClient(session, api.fetch);
    const result = await client.request<{ token: string }>('GET', '/v1/tracking');
    expect(result.token).toBe('Bearer access-2');
    expect(api.calls).toEqual([
      'POST /v1/auth/login',
      'GET /v1/tracking',
      'POST /v1/auth/refresh',
      'GET /v1/tracking',
    ]);
  });

  it('surfaces the API error message and its field errors', async () => {
    const fetch: FetchLike = async () =>
      new Response(
        JSON.stringify({ error: 'invalid_request', errors: [{ field: 'origin.lat', message: 'must be between -90 and 90' }] }),
        { status: 400 },
      );
    const session = new Session({
      apiBaseUrl: 'http://api',
      fetch,
      store: memoryStore({ accessToken: 'a', refreshToken: 'r', expiresAt: Date.now() + 900_000, user }),
    });
    const client = new ApiClient(session, fetch);
    const error = await client.request('POST', '/v1/shipments', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', message: 'origin.lat: must be between -90 and 90' });
  });
});

/** sessionStorage as a map; `broken` makes every call throw (storage disabled). */
function fakeStorage(broken = false) {
  const items = new Map<string, string>();
  const check = () => {
    if (broken) throw new Error('SecurityError: storage is disabled');
  };
  const storage: MarkStorage = {
    getItem: (key) => (check(), items.get(key) ?? null),
    setItem: (key, value) => (check(), void items.set(key, String(value))),
    removeItem: (key) => (check(), void items.delete(key)),
  };
  return { storage, items };
}

describe('tokens in memory only', () => {
  it('keeps no token anywhere a script could read it, so a new page load is signed out', async () => {
    const api = fakeApi();
    const { storage, items } = fakeStorage();
    const marks = sessionMarks(storage);
    const session = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch });
    session.subscribe((tokens) => marks.signedIn(tokens !== null));
    await session.login('m@example.org', 'right');
    await session.accessToken(true);
    expect(session.signedIn).toBe(true);
    // the tab remembers a flag, never a token
    expect([...items.entries()]).toEqual([[SIGNED_IN_KEY, '1']]);
    expect(JSON.stringify([...items.values()])).not.toMatch(/refresh-|access-/);

    // a reload: a new page, a new Session, nothing to load
    const reloaded = new Session({ apiBaseUrl: 'http://api', fetch: api.fetch });
    expect(reloaded.signedIn).toBe(false);
    await expect(reloaded.accessToken()).rejects.toBeInstanceOf(SessionExpired);
  });

  it('tells the login page after a reload why it is back, once', () => {
    const { storage, items } = fakeStorage();
    expect(sessionMarks(storage).takeNotice()).toBeNull();
    sessionMarks(storage).signedIn(true);
    // the next page load of this tab
    expect(sessionMarks(storage).takeNotice()).toBe(RELOAD_NOTICE);
    expect(sessionMarks(storage).takeNotice()).toBeNull();
    // signed out on purpose: no notice
    const marks = sessionMarks(storage);
    marks.signedIn(true);
    marks.signedIn(false);
    expect(sessionMarks(storage).takeNotice()).toBeNull();
    expect(items.size).toBe(0);
  });

  it('removes the tokens an earlier version left in sessionStorage', () => {
    const { storage, items } = fakeStorage();
    items.set(LEGACY_TOKENS_KEY, JSON.stringify({ refreshToken: 'refresh-old' }));
    sessionMarks(storage).takeNotice();
    expect(items.has(LEGACY_TOKENS_KEY)).toBe(false);
  });

  it('works without storage, or with storage that refuses', () => {
    for (const storage of [null, fakeStorage(true).storage]) {
      const marks = sessionMarks(storage);
      expect(() => marks.signedIn(true)).not.toThrow();
      expect(marks.takeNotice()).toBeNull();
    }
  });
});
