// The organisation's shipments, newest first, filtered by state (on the server) and
// by text and alarms (here); rows follow shipment events live.

import { useCallback, useEffect, useMemo, useState } from 'react';
import { SHIPMENT_STATES, type Shipment, type ShipmentState } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { worstSeverity } from '../live/reducer';
import { shipmentHref } from '../router';
import { fmtTime, stateName } from '../util/format';
import { useApp } from './AppContext';
import { canCreateShipment } from './permissions';
import { useOrganisations } from './useOrganisations';

export function ShipmentsPage() {
  const { api, user } = useApp();
  const { state: live } = useLive();
  const orgs = useOrganisations();
  const [stateFilter, setStateFilter] = useState<ShipmentState | ''>('');
  const [text, setText] = useState('');
  const [alarmsOnly, setAlarmsOnly] = useState(false);
  const [items, setItems] = useState<Shipment[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (more: string | null) => {
      setLoading(true);
      setError(null);
      try {
        const page = await api.shipments(stateFilter || undefined, more);
        setItems((old) => (more ? [...old, ...page.items] : page.items));
        setNext(page.next ?? null);
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      } finally {
        setLoading(false);
      }
    },
    [api, stateFilter],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  const rows = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return items
      .map((s) => {
        const newer = live.shipments[s.id];
        return newer && newer.version >= s.version ? newer : s;
      })
      .filter((s) => !stateFilter || s.state === stateFilter)
      .filter(
        (s) =>
          !needle ||
          [s.id, s.product, s.origin?.name, s.destination?.name, s.device_id ?? '', orgs.name(s.recipient_org_id), orgs.name(s.shipper_org_id)]
            .join(' ')
            .toLowerCase()
            .includes(needle),
      )
      .filter((s) => !alarmsOnly || (live.trackings[s.id]?.active_alarms.length ?? 0) > 0);
  }, [items, live.shipments, live.trackings, text, stateFilter, alarmsOnly, orgs]);

  return (
    <section className="card">
      <div className="card-head">
        <h2>Shipments</h2>
        {canCreateShipment(user) && (
          <a className="button primary" href="#/shipments/new">
            New shipment
          </a>
        )}
      </div>
      <div className="filters" role="search">
        <label>
          State{' '}
          <select
            aria-label="State"
            value={stateFilter}
            onChange={(e) => setStateFilter(e.target.value as ShipmentState | '')}
          >
            <option value="">any</option>
            {SHIPMENT_STATES.map((s) => (
              <option key={s} value={s}>
                {stateName(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search{' '}
          <input
            aria-label="Search"
            type="search"
            placeholder="product, place, device, organisation"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={alarmsOnly} onChange={(e) => setAlarmsOnly(e.target.checked)} /> with active
          alarms only
        </label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="table" data-testid="shipment-table">
        <thead>
          <tr>
            <th>Product</th>
            <th>State</th>
            <th>From</th>
            <th>To</th>
            <th>Device</th>
            <th>Created</th>
            <th>Alarm</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={7} className="muted" data-testid="no-shipments">
                {loading ? 'Loading…' : 'No shipments.'}
              </td>
            </tr>
          )}
          {rows.map((s) => {
            const worst = worstSeverity(live.trackings[s.id]?.active_alarms ?? []);
            return (
              <tr key={s.id} data-testid="shipment-row" data-shipment-id={s.id}>
                <td>
                  <a href={shipmentHref(s.id)}>{s.product}</a>
                  <div className="muted small">
                    {s.quantity} units · {s.profile?.kind}
                  </div>
                </td>
                <td>
                  <span className={`state-pill state-${s.state}`}>{stateName(s.state)}</span>
                </td>
                <td>
                  {s.origin?.name}
                  <div className="muted small">{orgs.name(s.shipper_org_id)}</div>
                </td>
                <td>
                  {s.destination?.name}
                  <div className="muted small">{orgs.name(s.recipient_org_id)}</div>
                </td>
                <td className="mono small">{s.device_id ?? '–'}</td>
                <td>{fmtTime(s.created_at)}</td>
                <td>{worst ? <span className={`sev-pill sev-${worst}`}>{worst}</span> : ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {next && (
        <button type="button" disabled={loading} onClick={() => void load(next)}>
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
