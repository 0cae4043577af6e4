import { describe, expect, it } from 'vitest';
import type { AlarmItem, ServerMessage, Tracking } from '../api/types';
import { initialLiveState, liveReducer, mergeAlarm, sortedAlarms, type LiveState } from './reducer';

const band = { kind: 'REFRIGERATED', min_c: 2, max_c: 8, hot_zone_c: 25, cold_zone_c: 0 };

function tracking(id: string, ts: string, lat: number, extra: Partial<Tracking> = {}): Tracking {
  return {
    shipment_id: id,
    state: 'IN_TRANSIT',
    product: 'Vaccine',
    device_id: 'truck-7',
    shipper_org_id: 'org-ship',
    recipient_org_id: 'org-recv',
    origin: { name: 'Rotterdam', lat: 51.9, lon: 4.5 },
    destination: { name: 'Berlin', lat: 52.5, lon: 13.4 },
    latest: { reading_id: `r-${ts}`, ts, lat, lon: 5, temperature_c: 5, vibration_g: 0.2 },
    mkt_c: 5,
    excursion_minutes: 0,
    budget_minutes: 75,
    minutes_above: 0,
    minutes_below: 0,
    budget_used: 0,
    coverage: 1,
    longest_gap_minutes: 0.1,
    min_temperature_c: 5,
    max_temperature_c: 5,
    profile: band,
    active_alarms: [],
    ...extra,
  };
}

function trackingEvent(id: string, version: number, ts: string, lat: number, extra: Partial<Tracking> = {}): ServerMessage {
  const { product: _p, origin: _o, destination: _d, ...body } = tracking(id, ts, lat, extra);
  return {
    v: 1,
    type: 'tracking.updated',
    id: `${id}:v${version}`,
    shipment_id: id,
    data: { ...body, event_id: `${id}:v${version}`, event_type: 'tracking.updated', occurred_at: ts },
  };
}

function alarm(state: AlarmItem['state'], extra: Partial<AlarmItem> = {}): AlarmItem {
  return {
    alarm_id: 'shp-1#SHOCK#1',
    shipment_id: 'shp-1',
    alarm_type: 'SHOCK',
    severity: 'CRITICAL',
    state,
    raised_at: '2026-11-21T10:00:00Z',
    last_seen: '2026-11-21T10:00:00Z',
    detail: '7.5 g',
    ...extra,
  };
}

function alarmEvent(type: string, a: AlarmItem, suffix: string): ServerMessage {
  return {
    v: 1,
    type,
    id: `${a.alarm_id}:${suffix}`,
    shipment_id: a.shipment_id,
    data: {
      v: 1,
      event_id: `${a.alarm_id}:${suffix}`,
      event_type: type,
      occurred_at: a.last_seen,
      alarm: a,
      shipment: { shipment_id: 'shp-1', product: 'Vaccine', shipper_org_id: 'org-ship', recipient_org_id: 'org-recv' },
      context: {},
    },
  };
}

const apply = (state: LiveState, ...messages: ServerMessage[]) =>
  messages.reduce((s, message) => liveReducer(s, { type: 'event', message }), state);

describe('liveReducer', () => {
  const loaded = liveReducer(initialLiveState, {
    type: 'loaded',
    trackings: [tracking('shp-1', '2026-11-21T10:00:00Z', 52.0)],
    alarms: [],
  });

  it('moves a truck on tracking.updated and keeps what the event does not carry', () => {
    const next = apply(loaded, trackingEvent('shp-1', 2, '2026-11-21T10:00:05Z', 52.1));
    const t = next.trackings['shp-1'];
    expect(t.latest?.lat).toBe(52.1);
    expect(t.product).toBe('Vaccine');
    expect(t.origin?.name).toBe('Rotterdam');
    expect(next.touched['shp-1']).toBe(1);
  });

  it('ignores a redelivered event and never goes back to an older position', () => {
    const newer = trackingEvent('shp-1', 3, '2026-11-21T10:00:10Z', 52.2);
    const older = trackingEvent('shp-1', 2, '2026-11-21T10:00:05Z', 52.1);
    const once = apply(loaded, newer);
    expect(apply(once, newer)).toBe(once);
    expect(apply(once, older).trackings['shp-1'].latest?.lat).toBe(52.2);
  });

  it('takes the per-side figures, coverage and extremes from events, and keeps them when an older event lacks them', () => {
    const figures = {
      excursion_minutes: 17,
      minutes_above: 12,
      minutes_below: 5,
      budget_used: 0.33,
      coverage: 0.9,
      longest_gap_minutes: 14,
      min_temperature_c: 1.2,
      max_temperature_c: 9.8,
    };
    const next = apply(loaded, trackingEvent('shp-1', 2, '2026-11-21T10:00:05Z', 52.1, figures));
    expect(next.trackings['shp-1']).toMatchObject(figures);
    const {
      minutes_above: _a,
      minutes_below: _b,
      budget_used: _u,
      coverage: _c,
      longest_gap_minutes: _g,
      min_temperature_c: _min,
      max_temperature_c: _max,
      ...old
    } = tracking('shp-1', '2026-11-21T10:00:10Z', 52.2, { excursion_minutes: 18 });
    const fromOldWriter: ServerMessage = {
      v: 1,
      type: 'tracking.updated',
      id: 'shp-1:v3',
      shipment_id: 'shp-1',
      data: { ...old, event_id: 'shp-1:v3', event_type: 'tracking.updated', occurred_at: '2026-11-21T10:00:10Z' },
    };
    const after = apply(next, fromOldWriter).trackings['shp-1'];
    expect(after.excursion_minutes).toBe(18);
    expect(after).toMatchObject({ ...figures, excursion_minutes: 18 });
  });

  it('adds a shipment it did not know from its first tracking event', () => {
    const next = apply(loaded, trackingEvent('shp-2', 1, '2026-11-21T10:00:05Z', 51.0));
    expect(Object.keys(next.trackings).sort()).toEqual(['shp-1', 'shp-2']);
  });

  it('shows a raised alarm on the feed and on the truck, acknowledged and cleared in any order', () => {
    const raised = alarmEvent('alarm.raised', alarm('ACTIVE_UNACK'), 'RAISED');
    const acked = alarmEvent(
      'alarm.acknowledged',
      alarm('ACTIVE_ACK', { acknowledged_by: 'usr-1', acknowledged_at: '2026-11-21T10:01:00Z' }),
      'ACKNOWLEDGED',
    );
    const cleared = alarmEvent(
      'alarm.cleared',
      alarm('CLEARED', { last_seen: '2026-11-21T10:05:00Z', cleared_at: '2026-11-21T10:05:00Z' }),
      'CLEARED',
    );
    const afterRaise = apply(loaded, raised);
    expect(sortedAlarms(afterRaise.alarms).map((a) => [a.alarm_type, a.state, a.product])).toEqual([
      ['SHOCK', 'ACTIVE_UNACK', 'Vaccine'],
    ]);
    expect(afterRaise.trackings['shp-1'].active_alarms).toEqual([
      { alarm_id: 'shp-1#SHOCK#1', alarm_type: 'SHOCK', severity: 'CRITICAL', state: 'ACTIVE_UNACK' },
    ]);
    // acknowledgement overtaken by a late copy of the raise: still acknowledged
    const acknowledged = apply(afterRaise, acked, { ...raised, id: 'another-copy' });
    expect(acknowledged.alarms['shp-1#SHOCK#1']).toMatchObject({ state: 'ACTIVE_ACK', acknowledged_by: 'usr-1' });
    expect(acknowledged.trackings['shp-1'].active_alarms[0].state).toBe('ACTIVE_ACK');
    // cleared before the acknowledgement arrived: cleared, and the ack's details kept
    const clearedFirst = apply(loaded, raised, cleared, acked);
    expect(clearedFirst.alarms['shp-1#SHOCK#1']).toMatchObject({ state: 'CLEARED', acknowledged_by: 'usr-1' });
    expect(clearedFirst.trackings['shp-1'].active_alarms).toEqual([]);
    expect(sortedAlarms(clearedFirst.alarms)).toEqual([]);
    expect(sortedAlarms(clearedFirst.alarms, true)).toHaveLength(1);
  });

  it('keeps the higher severity of an escalation whatever the order', () => {
    const major = alarm('ACTIVE_UNACK', { alarm_type: 'TEMPERATURE_EXCURSION', severity: 'MAJOR' });
    const critical = { ...major, severity: 'CRITICAL' as const, last_seen: '2026-11-21T10:10:00Z' };
    expect(mergeAlarm(major, critical).severity).toBe('CRITICAL');
    expect(mergeAlarm(critical, major).severity).toBe('CRITICAL');
    expect(mergeAlarm(critical, major).last_seen).toBe('2026-11-21T10:10:00Z');
  });

  it('lets an escalation withdraw the review of the lower severity, whatever the order', () => {
    const review = {
      by: 'usr-qa',
      at: '2026-11-21T10:05:00Z',
      reason: 'door closed',
      disposition: 'NO_PRODUCT_IMPACT' as const,
      severity: 'MAJOR' as const,
      after_clearing: false,
    };
    const reviewed = alarm('ACTIVE_ACK', { severity: 'MAJOR', review, acknowledged_by: 'usr-qa' });
    const escalated = alarm('ACTIVE_UNACK', {
      severity: 'CRITICAL',
      last_seen: '2026-11-21T10:20:00Z',
      earlier_reviews: [review],
    });
    for (const merged of [mergeAlarm(reviewed, escalated), mergeAlarm(escalated, reviewed)]) {
      expect(merged.state).toBe('ACTIVE_UNACK');
      expect(merged.review).toBeNull();
      expect(merged.acknowledged_by).toBeNull();
      expect(merged.earlier_reviews).toHaveLength(1);
    }
    // a cleared alarm reviewed afterwards keeps its review
    const cleared = alarm('CLEARED', { cleared_at: '2026-11-21T10:30:00Z' });
    const later = { ...cleared, review: { ...review, severity: 'CRITICAL' as const, after_clearing: true } };
    expect(mergeAlarm(cleared, later).review?.after_clearing).toBe(true);
    expect(mergeAlarm(later, cleared).state).toBe('CLEARED');
  });

  it('follows shipment events: delivered stays, cancelled goes, a dispatched one appears', () => {
    const shipmentEvent = (id: string, state: string, version: number): ServerMessage => ({
      v: 1,
      type: `shipment.${state.toLowerCase()}`,
      id: `${id}:v${version}`,
      shipment_id: id,
      data: {
        event_id: `${id}:v${version}`,
        event_type: `shipment.${state.toLowerCase()}`,
        version,
        occurred_at: '2026-11-21T10:00:00Z',
        shipment_id: id,
        shipper_org_id: 'org-ship',
        recipient_org_id: 'org-recv',
        state,
        shipment: {
          id,
          product: 'Insulin',
          quantity: 10,
          cargo_value: { amount: '100.00', currency: 'EUR' },
          profile: { kind: 'FROZEN' },
          shipper_org_id: 'org-ship',
          recipient_org_id: 'org-recv',
          origin: { name: 'Venlo', lat: 51.4, lon: 6.2 },
          destination: { name: 'Essen', lat: 51.4, lon: 7.0 },
          state,
          version,
        },
      },
    });
    const delivered = apply(loaded, shipmentEvent('shp-1', 'DELIVERED', 4));
    expect(delivered.trackings['shp-1'].state).toBe('DELIVERED');
    const dispatched = apply(loaded, shipmentEvent('shp-9', 'DISPATCHED', 2));
    expect(dispatched.trackings['shp-9']).toMatchObject({
      product: 'Insulin',
      latest: null,
      minutes_above: 0,
      minutes_below: 0,
      budget_used: 0,
      coverage: null,
      min_temperature_c: null,
      max_temperature_c: null,
      profile: { kind: 'FROZEN', min_c: -25, max_c: -15, hot_zone_c: -10 },
    });
    expect(dispatched.trackings['shp-9'].profile.cold_zone_c).toBeUndefined();
    const cancelled = apply(dispatched, shipmentEvent('shp-9', 'CANCELLED', 3));
    expect(cancelled.trackings['shp-9']).toBeUndefined();
    expect(cancelled.shipments['shp-9'].state).toBe('CANCELLED');
    // a stale event does not undo the newer state
    expect(apply(cancelled, { ...shipmentEvent('shp-9', 'DISPATCHED', 2), id: 'late' }).shipments['shp-9'].state).toBe(
      'CANCELLED',
    );
  });

  it('a truncated event changes nothing by itself (the owner refetches)', () => {
    const next = apply(loaded, { v: 1, type: 'tracking.updated', id: 'shp-1:v9', shipment_id: 'shp-1', truncated: true });
    expect(next.trackings).toBe(loaded.trackings);
    expect(next.seen).toContain('shp-1:v9');
  });

  it('a reload replaces the set of shipments but keeps newer live positions and alarms', () => {
    const live = apply(loaded, trackingEvent('shp-1', 5, '2026-11-21T10:01:00Z', 52.5), alarmEvent('alarm.raised', alarm('ACTIVE_UNACK'), 'RAISED'));
    const reloaded = liveReducer(live, {
      type: 'loaded',
      trackings: [tracking('shp-1', '2026-11-21T10:00:30Z', 52.3), tracking('shp-3', '2026-11-21T10:00:30Z', 50)],
      alarms: [],
    });
    expect(reloaded.trackings['shp-1'].latest?.lat).toBe(52.5);
    expect(reloaded.trackings['shp-3']).toBeDefined();
    expect(Object.keys(reloaded.alarms)).toEqual(['shp-1#SHOCK#1']);
    const gone = liveReducer(reloaded, { type: 'loaded', trackings: [], alarms: [] });
    expect(gone.trackings).toEqual({});
  });

  it('forgets old event ids beyond its limit', () => {
    let state = loaded;
    for (let i = 0; i < 1100; i += 1) {
      state = apply(state, { v: 1, type: 'shipment.noop', id: `e${i}` });
    }
    expect(state.seen).toHaveLength(1000);
    expect(state.seen[0]).toBe('e100');
  });
});
