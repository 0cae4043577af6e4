// The landing page: the live map with the alarm feed beside it and the shipments on
// their way below.

import { useMemo, useState } from 'react';
import { useLive } from '../live/LiveProvider';
import { sortedAlarms, worstSeverity } from '../live/reducer';
import { shipmentHref } from '../router';
import { fmtAgo, fmtNumber, fmtTemp, stateName } from '../util/format';
import { AlarmFeed } from './AlarmFeed';
import { useApp } from './AppContext';
import { TrackingMap } from './TrackingMap';
import { useTick } from '../util/useTick';

export function LivePage() {
  const { config } = useApp();
  const { state, error } = useLive();
  const [selected, setSelected] = useState<string | null>(null);
  useTick(5000);
  const trackings = useMemo(
    () =>
      Object.values(state.trackings).sort((a, b) =>
        (a.product ?? a.shipment_id).localeCompare(b.product ?? b.shipment_id),
      ),
    [state.trackings],
  );
  const alarms = useMemo(() => sortedAlarms(state.alarms), [state.alarms]);

  return (
    <div className="live-grid">
      <section className="card map-card" aria-label="Map">
        <div className="card-head">
          <h2>Shipments on their way</h2>
          <span className="muted" data-testid="tracking-count">
            {state.loaded ? `${trackings.length} shown` : 'loading…'}
          </span>
        </div>
        {error && (
          <p className="error" role="alert">
            Could not load: {error}
          </p>
        )}
        <TrackingMap
          trackings={trackings}
          tileUrl={config.tileUrl}
          tileAttribution={config.tileAttribution}
          selected={selected}
        />
        <table className="table trucks" data-testid="tracking-table">
          <thead>
            <tr>
              <th>Shipment</th>
              <th>State</th>
              <th>Temperature</th>
              <th>Position</th>
              <th>Last seen</th>
              <th>Alarm</th>
            </tr>
          </thead>
          <tbody>
            {trackings.length === 0 && (
              <tr>
                <td colSpan={6} className="muted" data-testid="no-tracking">
                  {state.loaded ? 'No shipment of your organisation is on its way.' : 'Loading…'}
                </td>
              </tr>
            )}
            {trackings.map((t) => {
              const worst = worstSeverity(t.active_alarms);
              const out =
                t.latest && (t.latest.temperature_c < t.profile.min_c || t.latest.temperature_c > t.profile.max_c);
              return (
                <tr
                  key={t.shipment_id}
                  data-testid="tracking-row"
                  data-shipment-id={t.shipment_id}
                  className={selected === t.shipment_id ? 'selected' : ''}
                  onClick={() => setSelected(t.shipment_id)}
                >
                  <td>
                    <a href={shipmentHref(t.shipment_id)} onClick={(e) => e.stopPropagation()}>
                      {t.product ?? t.shipment_id}
                    </a>
                    {t.origin && t.destination && (
                      <div className="muted small">
                        {t.origin.name} → {t.destination.name}
                      </div>
                    )}
                  </td>
                  <td>
                    <span className={`state-pill state-${t.state}`}>{stateName(t.state)}</span>
                  </td>
                  <td className={out ? 'out' : ''}>{fmtTemp(t.latest?.temperature_c)}</td>
                  <td className="mono small">
                    {t.latest ? `${fmtNumber(t.latest.lat, 4)}, ${fmtNumber(t.latest.lon, 4)}` : '–'}
                  </td>
                  <td>{t.latest ? fmtAgo(t.latest.ts) : 'no reading yet'}</td>
                  <td>{worst ? <span className={`sev-pill sev-${worst}`}>{worst}</span> : ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      <section className="card feed-card" aria-label="Alarm feed">
        <div className="card-head">
          <h2>Active alarms</h2>
          <a href="#/alarms" className="small">
            all alarms →
          </a>
        </div>
        <AlarmFeed alarms={alarms} compact />
      </section>
    </div>
  );
}
