// The live picture of the caller's organisation: shipments on their way (tracking) and
// alarms, loaded over REST and kept current by the WebSocket's events.
//
// Events arrive at least once and not necessarily in order (SNS fan-out, reconnects,
// a REST reload racing with events), so every update is idempotent and monotonic:
// duplicates are dropped by event id, a position never goes back to an older reading,
// and an alarm's state only moves forward (unacknowledged → acknowledged → cleared)
// while its severity only goes up — except that an escalation withdraws the
// acknowledgement and the review: at a higher severity the alarm needs a new one.

import type {
  AlarmEvent,
  AlarmItem,
  AlarmRef,
  AlarmState,
  ServerMessage,
  Severity,
  Shipment,
  ShipmentEvent,
  Tracking,
  TrackingEvent,
} from '../api/types';
import { bandOf } from './profiles';

export interface LiveState {
  trackings: Record<string, Tracking>;
  alarms: Record<string, AlarmItem>;
  /** Shipments as the latest shipment event showed them (for lists and detail pages). */
  shipments: Record<string, Shipment>;
  /** Ids of the events applied lately (newest last), to drop redeliveries. */
  seen: string[];
  /** Bumped by every applied event, per shipment: detail pages reload on it. */
  touched: Record<string, number>;
  loaded: boolean;
}

export type LiveAction =
  | { type: 'loaded'; trackings: Tracking[]; alarms: AlarmItem[] }
  | { type: 'event'; message: ServerMessage }
  | { type: 'alarm'; alarm: AlarmItem }
  | { type: 'tracking'; tracking: Tracking }
  | { type: 'reset' };

export const SEEN_LIMIT = 1000;

export const initialLiveState: LiveState = {
  trackings: {},
  alarms: {},
  shipments: {},
  seen: [],
  touched: {},
  loaded: false,
};

const STATE_RANK: Record<AlarmState, number> = { ACTIVE_UNACK: 0, ACTIVE_ACK: 1, CLEARED: 2 };
const SEVERITY_RANK: Record<Severity, number> = { WARNING: 0, MAJOR: 1, CRITICAL: 2 };

export function liveReducer(state: LiveState, action: LiveAction): LiveState {
  switch (action.type) {
    case 'reset':
      return initialLiveState;
    case 'loaded': {
      const trackings: Record<string, Tracking> = {};
      for (const tracking of action.trackings) {
        trackings[tracking.shipment_id] = mergeTracking(state.trackings[tracking.shipment_id], tracking);
      }
      let alarms = state.alarms;
      for (const alarm of action.alarms) alarms = putAlarm(alarms, alarm);
      return { ...state, trackings, alarms, loaded: true };
    }
    case 'alarm':
      return withAlarm(state, action.alarm);
    case 'tracking':
      return {
        ...state,
        trackings: {
          ...state.trackings,
          [action.tracking.shipment_id]: mergeTracking(state.trackings[action.tracking.shipment_id], action.tracking),
        },
      };
    case 'event':
      return applyEvent(state, action.message);
  }
}

function applyEvent(state: LiveState, message: ServerMessage): LiveState {
  const id = message.id ?? eventIdOf(message.data);
  if (id && state.seen.includes(id)) return state;
  let next = state;
  if (message.data && !message.truncated) {
    if (message.type === 'tracking.updated') {
      next = applyTracking(state, message.data as TrackingEvent);
    } else if (message.type.startsWith('alarm.')) {
      next = applyAlarm(state, message.data as AlarmEvent);
    } else if (message.type.startsWith('shipment.')) {
      next = applyShipment(state, message.data as ShipmentEvent);
    }
  }
  const shipmentId = message.shipment_id ?? (message.data as { shipment_id?: string } | undefined)?.shipment_id;
  const seen = id ? [...next.seen, id].slice(-SEEN_LIMIT) : next.seen;
  const touched = shipmentId ? { ...next.touched, [shipmentId]: (next.touched[shipmentId] ?? 0) + 1 } : next.touched;
  return { ...next, seen, touched };
}

function eventIdOf(data: unknown): string | undefined {
  const id = (data as { event_id?: unknown } | undefined)?.event_id;
  return typeof id === 'string' ? id : undefined;
}

function applyTracking(state: LiveState, event: TrackingEvent): LiveState {
  if (!event.shipment_id) return state;
  const { event_id: _id, event_type: _type, occurred_at: _at, ...tracking } = event;
  if (tracking.state === 'CANCELLED') return dropTracking(state, event.shipment_id);
  return {
    ...state,
    trackings: { ...state.trackings, [event.shipment_id]: mergeTracking(state.trackings[event.shipment_id], tracking) },
  };
}

/** `incoming` over `existing`, keeping what the incoming lacks and never an older position. */
export function mergeTracking(existing: Tracking | undefined, incoming: Tracking): Tracking {
  if (!existing) return { ...incoming, active_alarms: incoming.active_alarms ?? [] };
  const olderReading =
    existing.latest && incoming.latest && Date.parse(incoming.latest.ts) < Date.parse(existing.latest.ts);
  if (olderReading) {
    return { ...existing, product: existing.product ?? incoming.product };
  }
  return {
    ...existing,
    ...stripUndefined(incoming),
    product: incoming.product ?? existing.product,
    origin: incoming.origin ?? existing.origin,
    destination: incoming.destination ?? existing.destination,
    latest: incoming.latest ?? existing.latest,
    active_alarms: incoming.active_alarms ?? existing.active_alarms,
  };
}

function applyAlarm(state: LiveState, event: AlarmEvent): LiveState {
  if (!event.alarm?.alarm_id) return state;
  const item: AlarmItem = {
    ...event.alarm,
    product: event.shipment?.product,
    shipper_org_id: event.shipment?.shipper_org_id,
    recipient_org_id: event.shipment?.recipient_org_id,
  };
  return withAlarm(state, item);
}

function withAlarm(state: LiveState, alarm: AlarmItem): LiveState {
  const alarms = putAlarm(state.alarms, alarm);
  const merged = alarms[alarm.alarm_id];
  const tracking = state.trackings[merged.shipment_id];
  if (!tracking) return { ...state, alarms };
  const others = tracking.active_alarms.filter((a) => a.alarm_id !== merged.alarm_id);
  const active_alarms: AlarmRef[] =
    merged.state === 'CLEARED'
      ? others
      : [
          ...others,
          { alarm_id: merged.alarm_id, alarm_type: merged.alarm_type, severity: merged.severity, state: merged.state },
        ];
  return {
    ...state,
    alarms,
    trackings: { ...state.trackings, [merged.shipment_id]: { ...tracking, active_alarms } },
  };
}

function putAlarm(alarms: Record<string, AlarmItem>, alarm: AlarmItem): Record<string, AlarmItem> {
  return { ...alarms, [alarm.alarm_id]: mergeAlarm(alarms[alarm.alarm_id], alarm) };
}

/**
 * Two views of the same alarm, combined: the highest severity, the latest values, and the
 * furthest state *at that severity* (an acknowledgement or review of a lower severity was
 * withdrawn by the escalation); cleared stays cleared.
 */
export function mergeAlarm(a: AlarmItem | undefined, b: AlarmItem): AlarmItem {
  if (!a) return b;
  const newer = Date.parse(b.last_seen) >= Date.parse(a.last_seen) ? b : a;
  const older = newer === b ? a : b;
  const severity = (SEVERITY_RANK[b.severity] ?? 0) > (SEVERITY_RANK[a.severity] ?? 0) ? b.severity : a.severity;
  const current = [a, b].filter((v) => v.severity === severity);
  const cleared = a.state === 'CLEARED' || b.state === 'CLEARED';
  const state: AlarmState = cleared
    ? 'CLEARED'
    : current.some((v) => v.state === 'ACTIVE_ACK')
      ? 'ACTIVE_ACK'
      : 'ACTIVE_UNACK';
  const acknowledgedBy = current.find((v) => v.review) ?? current.find((v) => v.acknowledged_by);
  const earlier = (a.earlier_reviews?.length ?? 0) >= (b.earlier_reviews?.length ?? 0) ? a : b;
  return {
    ...older,
    ...stripUndefined(newer),
    state,
    severity,
    product: newer.product ?? older.product,
    shipper_org_id: newer.shipper_org_id ?? older.shipper_org_id,
    recipient_org_id: newer.recipient_org_id ?? older.recipient_org_id,
    acknowledged_by: acknowledgedBy?.acknowledged_by ?? null,
    acknowledged_at: acknowledgedBy?.acknowledged_at ?? null,
    review: acknowledgedBy?.review ?? null,
    earlier_reviews: earlier.earlier_reviews ?? [],
    cleared_at: a.cleared_at ?? b.cleared_at ?? null,
  };
}

/** A cleared alarm nobody has reviewed yet. */
export function awaitsReview(alarm: AlarmItem): boolean {
  return alarm.state === 'CLEARED' && !alarm.review;
}

function applyShipment(state: LiveState, event: ShipmentEvent): LiveState {
  const shipment = event.shipment;
  const id = event.shipment_id ?? shipment?.id;
  if (!id) return state;
  const known = state.shipments[id];
  const shipments =
    shipment && (!known || (shipment.version ?? 0) >= (known.version ?? 0))
      ? { ...state.shipments, [id]: shipment }
      : state.shipments;
  const current = shipments[id];
  const newState = current?.state ?? event.state;
  const tracking = state.trackings[id];
  let trackings = state.trackings;
  if (newState === 'CANCELLED' || newState === 'PENDING') {
    if (tracking) trackings = without(trackings, id);
  } else if (tracking) {
    trackings = { ...trackings, [id]: { ...tracking, state: newState } };
  } else if ((newState === 'DISPATCHED' || newState === 'IN_TRANSIT') && current) {
    trackings = { ...trackings, [id]: trackingFromShipment(current) };
  }
  return { ...state, shipments, trackings };
}

export function trackingFromShipment(shipment: Shipment): Tracking {
  return {
    shipment_id: shipment.id,
    state: shipment.state,
    product: shipment.product,
    device_id: shipment.device_id ?? null,
    shipper_org_id: shipment.shipper_org_id,
    recipient_org_id: shipment.recipient_org_id,
    origin: shipment.origin,
    destination: shipment.destination,
    latest: null,
    mkt_c: null,
    excursion_minutes: 0,
    budget_minutes: 0,
    minutes_above: 0,
    minutes_below: 0,
    budget_used: 0,
    coverage: null,
    longest_gap_minutes: 0,
    min_temperature_c: null,
    max_temperature_c: null,
    profile: bandOf(shipment.profile),
    active_alarms: [],
  };
}

function dropTracking(state: LiveState, id: string): LiveState {
  return state.trackings[id] ? { ...state, trackings: without(state.trackings, id) } : state;
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  const copy = { ...record };
  delete copy[key];
  return copy;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

// ---- selectors

/** Alarms newest first: active ones (unacknowledged first), then cleared ones. */
export function sortedAlarms(alarms: Record<string, AlarmItem>, includeCleared = false): AlarmItem[] {
  return Object.values(alarms)
    .filter((a) => includeCleared || a.state !== 'CLEARED')
    .sort(
      (x, y) =>
        STATE_RANK[x.state] - STATE_RANK[y.state] ||
        Date.parse(y.raised_at) - Date.parse(x.raised_at) ||
        x.alarm_id.localeCompare(y.alarm_id),
    );
}

export function worstSeverity(alarms: AlarmRef[]): Severity | null {
  let worst: Severity | null = null;
  for (const alarm of alarms) {
    if (alarm.state === 'CLEARED') continue;
    if (worst === null || SEVERITY_RANK[alarm.severity] > SEVERITY_RANK[worst]) worst = alarm.severity;
  }
  return worst;
}
