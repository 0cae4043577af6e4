// Keeps the live picture for the signed-in user: loads tracking and active alarms
// over REST, applies the WebSocket's events, reloads after a reconnect (events may
// have been missed) and, while the live connection is down, polls the REST API so the
// dashboard never goes stale.

import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import type { ApiClient } from '../api/client';
import type { AlarmItem, Disposition, ServerMessage } from '../api/types';
import { initialLiveState, liveReducer, type LiveAction, type LiveState } from './reducer';
import { LiveSocket, type LiveStatus } from './socket';

export interface LiveContextValue {
  state: LiveState;
  status: LiveStatus | 'off';
  /** How many times the live connection opened (reconnects = this − 1). */
  connects: number;
  /** Last load error, if the REST API failed. */
  error: string | null;
  reload: () => Promise<void>;
  /** Reviews an alarm (an active one is acknowledged by it). */
  review: (alarm: AlarmItem, reason: string, disposition: Disposition) => Promise<AlarmItem>;
  dispatch: (action: LiveAction) => void;
}

const LiveContext = createContext<LiveContextValue | null>(null);

const POLL_MS = 15_000;

export function LiveProvider({
  api,
  wsUrl,
  onSessionExpired,
  children,
}: {
  api: ApiClient;
  wsUrl: string;
  onSessionExpired: () => void;
  children: ReactNode;
}) {
  const [state, dispatch] = useReducer(liveReducer, initialLiveState);
  const [status, setStatus] = useState<LiveStatus | 'off'>(wsUrl ? 'connecting' : 'off');
  const [error, setError] = useState<string | null>(null);
  const [connects, setConnects] = useState(0);
  const loading = useRef<Promise<void> | null>(null);

  const reload = useCallback(() => {
    if (loading.current) return loading.current;
    const run = async () => {
      try {
        const [tracking, alarms] = await Promise.all([api.tracking(), api.alarms('active')]);
        dispatch({ type: 'loaded', trackings: tracking.items ?? [], alarms: alarms.items ?? [] });
        setError(null);
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      }
    };
    loading.current = run().finally(() => {
      loading.current = null;
    });
    return loading.current;
  }, [api]);

  const refetchTracking = useCallback(
    async (shipmentId: string) => {
      try {
        const tracking = await api.shipmentTracking(shipmentId);
        dispatch({ type: 'tracking', tracking });
        for (const alarm of tracking.alarms ?? []) dispatch({ type: 'alarm', alarm });
      } catch {
        // the next event or reload brings it
      }
    },
    [api],
  );

  useEffect(() => {
    void reload();
  }, [reload]);

  useEffect(() => {
    if (!wsUrl) return;
    const socket = new LiveSocket({
      url: wsUrl,
      token: (force) => api.session.accessToken(force),
      onStatus: (next) => {
        setStatus(next);
        if (next === 'open') setConnects((n) => n + 1);
      },
      onResync: () => void reload(),
      onSessionExpired,
      onMessage: (message: ServerMessage) => {
        if (message.type === 'error') {
          console.warn('live connection:', message.code, message.message);
          return;
        }
        if (message.truncated && message.shipment_id) {
          void refetchTracking(message.shipment_id);
          if (message.type.startsWith('alarm.')) void reload();
        }
        dispatch({ type: 'event', message });
      },
    });
    socket.start();
    const online = () => socket.reconnectNow();
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('online', online);
      socket.stop();
    };
  }, [api, wsUrl, reload, refetchTracking, onSessionExpired]);

  // without a live connection, poll
  useEffect(() => {
    if (status === 'open') return;
    const timer = window.setInterval(() => void reload(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [status, reload]);

  const review = useCallback(
    async (alarm: AlarmItem, reason: string, disposition: Disposition) => {
      const updated = await api.review(alarm.shipment_id, alarm.alarm_id, reason, disposition);
      const merged: AlarmItem = {
        ...alarm,
        ...updated,
        product: updated.product ?? alarm.product,
      };
      dispatch({ type: 'alarm', alarm: merged });
      return merged;
    },
    [api],
  );

  const value = useMemo(
    () => ({ state, status, connects, error, reload, review, dispatch }),
    [state, status, connects, error, reload, review],
  );
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveContextValue {
  const value = useContext(LiveContext);
  if (!value) throw new Error('useLive outside LiveProvider');
  return value;
}
