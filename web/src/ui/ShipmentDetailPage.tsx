// One shipment: what it is, where it is, its temperature over time against its band and
// outer zones, its cold-chain figures (ColdChainStats), the risk estimate, its alarms, its
// audit trail, and the state changes the caller may make. Follows the live events of the
// shipment.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../api/session';
import type { Transition } from '../api/client';
import type { AuditRecord, Band, Reading, Shipment, TrackingDetail } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { bandOf } from '../live/profiles';
import { mergeAlarm } from '../live/reducer';
import { alarmTypeName, dispositionName, fmtMoney, fmtPercent, fmtTime, stateName } from '../util/format';
import { useTick } from '../util/useTick';
import { AlarmRow } from './AlarmFeed';
import { useApp } from './AppContext';
import { ColdChainStats } from './ColdChainStats';
import { allowedTransitions } from './permissions';
import { SilencesPanel } from './SilencesPanel';
import { TemperatureChart } from './TemperatureChart';
import { TrackingMap } from './TrackingMap';
import { useOrganisations } from './useOrganisations';

const ACTION_LABEL: Record<Transition, string> = {
  dispatch: 'Dispatch',
  start: 'Start (in transit)',
  deliver: 'Mark delivered',
  cancel: 'Cancel shipment',
};

export function ShipmentDetailPage({ id }: { id: string }) {
  const { api, config } = useApp();
  const { state: live } = useLive();
  const orgs = useOrganisations();
  const [shipment, setShipment] = useState<Shipment | null>(null);
  const [detail, setDetail] = useState<TrackingDetail | null>(null);
  const [readings, setReadings] = useState<Reading[]>([]);
  const [audit, setAudit] = useState<AuditRecord[]>([]);
  const [notFound, setNotFound] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useTick(5000);

  const loadSide = useCallback(async () => {
    const [s, t, a] = await Promise.allSettled([api.shipment(id), api.shipmentTracking(id), api.audit(id)]);
    if (s.status === 'fulfilled') setShipment(s.value);
    else if (s.reason instanceof ApiError && s.reason.status === 404) setNotFound(true);
    else setError(String(s.reason?.message ?? s.reason));
    if (t.status === 'fulfilled') setDetail(t.value);
    if (a.status === 'fulfilled') setAudit(a.value.items ?? []);
    return s.status === 'fulfilled' ? s.value : null;
  }, [api, id]);

  // first load: the shipment, its tracking and audit, then its readings since it was created
  useEffect(() => {
    let live = true;
    void loadSide().then(async (s) => {
      if (!s || !live) return;
      try {
        const from = s.created_at ?? new Date(Date.now() - 86_400_000).toISOString();
        const items = await api.readings(id, from);
        if (live) setReadings(items);
      } catch (e) {
        if (live && !(e instanceof ApiError && e.status === 404)) setError(e instanceof Error ? e.message : String(e));
      }
    });
    return () => {
      live = false;
    };
  }, [api, id, loadSide]);

  // live: events of this shipment reload the side data (debounced); positions are appended
  const touched = live.touched[id] ?? 0;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = window.setTimeout(() => void loadSide(), 1200);
    return () => window.clearTimeout(timer);
  }, [touched, loadSide]);

  const liveTracking = live.trackings[id];
  const latest = liveTracking?.latest;
  useEffect(() => {
    if (!latest) return;
    setReadings((old) => {
      const last = old[old.length - 1];
      if (last && (last.reading_id === latest.reading_id || Date.parse(last.ts) >= Date.parse(latest.ts))) return old;
      return [...old, latest];
    });
  }, [latest]);

  const liveShipment = live.shipments[id];
  const current = liveShipment && shipment && liveShipment.version > shipment.version ? liveShipment : shipment;

  const tracking = useMemo(() => {
    if (!detail && !liveTracking) return null;
    return { ...(detail ?? {}), ...(liveTracking ?? {}) } as TrackingDetail;
  }, [detail, liveTracking]);

  const alarms = useMemo(() => {
    const list = (detail?.alarms ?? []).map((a) =>
      mergeAlarm({ ...a, product: current?.product }, live.alarms[a.alarm_id] ?? { ...a }),
    );
    for (const a of Object.values(live.alarms)) {
      if (a.shipment_id === id && !list.some((x) => x.alarm_id === a.alarm_id)) list.push(a);
    }
    return list.sort((x, y) => Date.parse(y.raised_at) - Date.parse(x.raised_at));
  }, [detail, live.alarms, id, current?.product]);

  if (notFound) {
    return (
      <section className="card" data-testid="shipment-not-found">
        <h2>Shipment not found</h2>
        <p>
          There is no shipment {id} that your organisation ships or receives. <a href="#/shipments">All shipments</a>
        </p>
      </section>
    );
  }
  if (!current) {
    return <section className="card muted">{error ? <span className="error">{error}</span> : 'Loading…'}</section>;
  }

  const band = tracking?.profile ?? bandOf(current.profile);

  return (
    <div className="detail" data-testid="shipment-detail" data-shipment-id={id}>
      <section className="card">
        <div className="card-head">
          <div>
            <h2>
              {current.product}{' '}
              <span className={`state-pill state-${current.state}`} data-testid="shipment-state">
                {stateName(current.state)}
              </span>
            </h2>
            <div className="muted small mono">{current.id}</div>
          </div>
          <Actions shipment={current} onChanged={(s) => setShipment(s)} reload={loadSide} />
        </div>
        <dl className="facts">
          <div>
            <dt>From</dt>
            <dd>
              {current.origin?.name}
              <div className="muted small">{orgs.name(current.shipper_org_id)}</div>
            </dd>
          </div>
          <div>
            <dt>To</dt>
            <dd>
              {current.destination?.name}
              <div className="muted small">{orgs.name(current.recipient_org_id)}</div>
            </dd>
          </div>
          <div>
            <dt>Cargo</dt>
            <dd>
              {current.quantity} units · {fmtMoney(current.cargo_value?.amount, current.cargo_value?.currency)}
            </dd>
          </div>
          <div>
            <dt>Profile</dt>
            <dd>
              {band.kind} ({band.min_c}…{band.max_c} °C)
              {(band.hot_zone_c !== undefined || band.cold_zone_c !== undefined) && (
                <div className="muted small" data-testid="profile-zones">
                  {zonesText(band)}
                </div>
              )}
            </dd>
          </div>
          <div>
            <dt>Device</dt>
            <dd className="mono">{current.device_id ?? '–'}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{fmtTime(current.created_at)}</dd>
          </div>
        </dl>
      </section>

      <ColdChainStats tracking={tracking} band={band} />

      <SilencesPanel
        shipment={current}
        onChanged={(s) => {
          setShipment(s);
          void loadSide();
        }}
      />

      <section className="card">
        <h3>Temperature</h3>
        <TemperatureChart readings={readings} band={band} />
      </section>

      <div className="two-col">
        <section className="card">
          <h3>Position</h3>
          {tracking ? (
            <TrackingMap
              trackings={[{ ...tracking, state: current.state }]}
              tileUrl={config.tileUrl}
              tileAttribution={config.tileAttribution}
              height={280}
            />
          ) : (
            <p className="muted">No position yet.</p>
          )}
        </section>
        <section className="card">
          <h3>Alarms</h3>
          {alarms.length === 0 ? (
            <p className="muted">No alarms.</p>
          ) : (
            <ul className="alarm-feed">
              {alarms.map((a) => (
                <AlarmRow key={a.alarm_id} alarm={a} />
              ))}
            </ul>
          )}
        </section>
      </div>

      {tracking?.risk && (
        <section className="card" data-testid="risk">
          <h3>Risk estimate</h3>
          <table className="table">
            <thead>
              <tr>
                <th>Source</th>
                <th>Share</th>
                <th>Amount</th>
                <th>Basis</th>
              </tr>
            </thead>
            <tbody>
              {tracking.risk.parts.map((p) => (
                <tr key={p.component}>
                  <td>{p.component.replace(/_/g, ' ').toLowerCase()}</td>
                  <td>{fmtPercent(p.fraction)}</td>
                  <td>{fmtMoney(p.amount, tracking.risk!.currency)}</td>
                  <td className="small">{p.basis}</td>
                </tr>
              ))}
              <tr className="total">
                <td>total</td>
                <td>{fmtPercent(tracking.risk.total_fraction)}</td>
                <td>{fmtMoney(tracking.risk.total, tracking.risk.currency)}</td>
                <td className="small muted">of a cargo value of {fmtMoney(tracking.risk.cargo_value, tracking.risk.currency)}</td>
              </tr>
            </tbody>
          </table>
          {tracking.risk.assumptions.length > 0 && (
            <details>
              <summary>Assumptions</summary>
              <ul className="small">
                {tracking.risk.assumptions.map((a) => (
                  <li key={a}>{a}</li>
                ))}
              </ul>
            </details>
          )}
        </section>
      )}

      <section className="card">
        <h3>Audit trail</h3>
        <table className="table" data-testid="audit-trail">
          <thead>
            <tr>
              <th>When</th>
              <th>What</th>
              <th>Who</th>
              <th>Change</th>
            </tr>
          </thead>
          <tbody>
            {audit.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No records.
                </td>
              </tr>
            )}
            {[...audit].reverse().map((r) => (
              <tr key={r.record_id} data-testid="audit-row" data-action={r.action}>
                <td>{fmtTime(r.at)}</td>
                <td>{describeAction(r)}</td>
                <td>
                  {r.actor?.role ? `${r.actor.role.toLowerCase()} ` : ''}
                  <span className="muted small mono">{r.actor?.id}</span>
                </td>
                <td className="small">{describeChange(r)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function zonesText(band: Band): string {
  const zones: string[] = [];
  if (band.hot_zone_c !== undefined) zones.push(`hot zone above ${band.hot_zone_c} °C`);
  if (band.cold_zone_c !== undefined) zones.push(`cold zone below ${band.cold_zone_c} °C`);
  return zones.join(', ');
}

function describeAction(r: AuditRecord): string {
  const action = r.action.replace(/[._]/g, ' ');
  return r.entity_type && r.entity_type.toLowerCase() !== 'shipment' ? `${action} (${r.entity_type.toLowerCase()})` : action;
}

function describeChange(r: AuditRecord): string {
  const before = (r.before ?? {}) as Record<string, unknown>;
  const after = (r.after ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if ('state' in after && before.state !== after.state) {
    parts.push(before.state ? `${String(before.state)} → ${String(after.state)}` : `state ${String(after.state)}`);
  }
  if (typeof after.alarm_type === 'string') parts.push(alarmTypeName(after.alarm_type));
  const review = after.review as { reason?: string; disposition?: string } | undefined;
  if (review && !before.review) {
    parts.push(`reviewed: ${dispositionName(String(review.disposition))}`);
    if (review.reason) parts.push(`reason: “${review.reason}”`);
  } else if (after.acknowledged_by && !before.acknowledged_by) {
    parts.push('acknowledged');
  }
  if (r.action === 'shipment.silences_changed') {
    const count = Array.isArray(after.expected_silences) ? after.expected_silences.length : 0;
    parts.push(count === 0 ? 'no expected silences' : `${count} expected silence${count === 1 ? '' : 's'}`);
  }
  if (typeof after.note === 'string' && after.note) parts.push(`note: “${after.note}”`);
  if (typeof after.reason === 'string' && after.reason) parts.push(`reason: “${after.reason}”`);
  return parts.join(' · ');
}

function Actions({
  shipment,
  onChanged,
  reload,
}: {
  shipment: Shipment;
  onChanged: (s: Shipment) => void;
  reload: () => Promise<unknown>;
}) {
  const { api, user } = useApp();
  const [busy, setBusy] = useState<Transition | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [reason, setReason] = useState('');
  const actions = allowedTransitions(user, shipment);
  if (actions.length === 0) return null;

  const run = async (action: Transition) => {
    setBusy(action);
    setError(null);
    try {
      const updated = await api.transition(shipment.id, action, shipment.version, action === 'cancel' ? reason.trim() : undefined);
      onChanged(updated);
      setCancelling(false);
      void reload();
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setError(`${e.message} The shipment was reloaded; try again if it still applies.`);
        void reload();
      } else {
        setError(e instanceof Error ? e.message : String(e));
      }
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="actions" data-testid="shipment-actions">
      {actions
        .filter((a) => a !== 'cancel')
        .map((a) => (
          <button key={a} type="button" className="primary" disabled={busy !== null} onClick={() => void run(a)}>
            {busy === a ? 'Saving…' : ACTION_LABEL[a]}
          </button>
        ))}
      {actions.includes('cancel') && !cancelling && (
        <button type="button" className="danger" onClick={() => setCancelling(true)}>
          {ACTION_LABEL.cancel}
        </button>
      )}
      {cancelling && (
        <form
          className="cancel-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run('cancel');
          }}
        >
          <input
            aria-label="Reason"
            placeholder="Reason for cancelling"
            value={reason}
            maxLength={500}
            onChange={(e) => setReason(e.target.value)}
          />
          <button type="submit" className="danger" disabled={busy !== null}>
            Confirm cancel
          </button>
          <button type="button" className="link" onClick={() => setCancelling(false)}>
            Keep
          </button>
        </form>
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
