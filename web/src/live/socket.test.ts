import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionExpired } from '../api/session';
import type { ServerMessage } from '../api/types';
import { backoffDelay } from './backoff';
import { LiveSocket, type LiveStatus, type SocketLike } from './socket';

class FakeSocket implements SocketLike {
  sent: string[] = [];
  closed: number | undefined;
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onerror: SocketLike['onerror'] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close(code?: number) {
    this.closed = code ?? 1000;
  }
  open() {
    this.onopen?.({});
  }
  receive(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006) {
    this.onclose?.({ code });
  }
}

function setup(overrides: { token?: (force: boolean) => Promise<string> } = {}) {
  const sockets: FakeSocket[] = [];
  const messages: ServerMessage[] = [];
  const statuses: LiveStatus[] = [];
  const tokenCalls: boolean[] = [];
  let resyncs = 0;
  let expired = 0;
  let n = 0;
  const live = new LiveSocket({
    url: 'ws://127.0.0.1:4600/local',
    token:
      overrides.token ??
      (async (force) => {
        tokenCalls.push(force);
        n += 1;
        return `t${n}`;
      }),
    onMessage: (m) => messages.push(m),
    onStatus: (s) => statuses.push(s),
    onResync: () => (resyncs += 1),
    onSessionExpired: () => (expired += 1),
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    backoff: { random: () => 0.999999 },
    pingIntervalMs: 60_000,
    pongTimeoutMs: 10_000,
  });
  return {
    live,
    sockets,
    messages,
    statuses,
    tokenCalls,
    resyncs: () => resyncs,
    expired: () => expired,
    last: () => sockets[sockets.length - 1],
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('doubles from 1 s up to 30 s, with jitter between half and all of it', () => {
    const top = (attempt: number) => backoffDelay(attempt, { random: () => 0.999999 });
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(top)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(backoffDelay(3, { random: () => 0 })).toBe(4000);
  });
});

describe('LiveSocket', () => {
  it('connects with the access token in the query string and hands events over', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.last().url).toBe('ws://127.0.0.1:4600/local?token=t1');
    t.last().open();
    expect(t.live.status).toBe('open');
    t.last().receive({ v: 1, type: 'tracking.updated', id: 'shp-1:v3', shipment_id: 'shp-1', data: {} });
    t.last().receive({ v: 1, type: 'pong' });
    t.last().onmessage?.({ data: 'not json' });
    expect(t.messages.map((m) => m.type)).toEqual(['tracking.updated']);
    expect(t.resyncs()).toBe(0);
  });

  it('reconnects after a drop with growing delays, and resyncs once it is back', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    t.last().open();
    t.last().drop();
    expect(t.live.status).toBe('reconnecting');
    expect(t.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(t.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sockets).toHaveLength(2);
    t.last().drop(); // refused: next in 2 s
    await vi.advanceTimersByTimeAsync(1999);
    expect(t.sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sockets).toHaveLength(3);
    t.last().drop(); // next in 4 s
    await vi.advanceTimersByTimeAsync(4000);
    expect(t.sockets).toHaveLength(4);
    t.last().open();
    expect(t.resyncs()).toBe(1);
    // the backoff starts again from 1 s after a success
    t.last().drop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.sockets).toHaveLength(5);
  });

  it('asks for a refreshed token once per outage when handshakes are refused', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    t.last().open();
    t.last().drop(); // the server closed (e.g. the 2 h limit): a plain reconnect
    await vi.advanceTimersByTimeAsync(1000);
    t.last().drop(); // refused before open: the token may be stale
    await vi.advanceTimersByTimeAsync(2000);
    t.last().drop(); // refused again: no second forced refresh in the same outage
    await vi.advanceTimersByTimeAsync(4000);
    expect(t.tokenCalls).toEqual([false, false, true, false]);
    t.last().open();
    expect(t.live.status).toBe('open');
  });

  it('stops for good when the session has ended', async () => {
    const t = setup({
      token: async () => {
        throw new SessionExpired();
      },
    });
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.expired()).toBe(1);
    expect(t.live.status).toBe('closed');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(t.sockets).toHaveLength(0);
  });

  it('retries later when no token can be had for now (offline)', async () => {
    let fail = true;
    const t = setup({
      token: async () => {
        if (fail) throw new TypeError('Failed to fetch');
        return 'ok';
      },
    });
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.live.status).toBe('reconnecting');
    fail = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.last().url).toContain('token=ok');
  });

  it('pings a quiet connection and reconnects when the ping goes unanswered', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = t.last();
    first.open();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(first.sent.map((s) => JSON.parse(s))).toEqual([{ v: 1, action: 'ping' }]);
    first.receive({ v: 1, type: 'pong' }); // answered: stays
    await vi.advanceTimersByTimeAsync(60_000 + 9_999);
    expect(first.closed).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(first.closed).toBe(4000);
    expect(t.live.status).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.sockets).toHaveLength(2);
  });

  it('reconnects at once when told the network is back, and not at all after stop', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    t.last().drop();
    t.live.reconnectNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.sockets).toHaveLength(2);
    t.last().open();
    t.live.stop();
    expect(t.last().closed).toBe(1000);
    t.last().drop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.sockets).toHaveLength(2);
    expect(t.statuses[t.statuses.length - 1]).toBe('closed');
  });

  it('sends subscribe messages only while connected', async () => {
    const t = setup();
    t.live.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.live.send({ action: 'subscribe', shipment_id: 'shp-1' })).toBe(false);
    t.last().open();
    expect(t.live.send({ action: 'subscribe', shipment_id: 'shp-1' })).toBe(true);
    expect(JSON.parse(t.last().sent[0])).toEqual({ v: 1, action: 'subscribe', shipment_id: 'shp-1' });
  });
});
