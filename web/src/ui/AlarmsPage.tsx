// Every alarm of the organisation's shipments, including cleared ones, live.

import { useEffect, useMemo, useState } from 'react';
import type { Severity } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { sortedAlarms } from '../live/reducer';
import { useTick } from '../util/useTick';
import { AlarmFeed } from './AlarmFeed';
import { useApp } from './AppContext';

export function AlarmsPage() {
  const { api } = useApp();
  const { state, dispatch } = useLive();
  const [show, setShow] = useState<'active' | 'unack' | 'all'>('active');
  const [severity, setSeverity] = useState<Severity | ''>('');
  const [error, setError] = useState<string | null>(null);
  useTick(10_000);

  useEffect(() => {
    if (show !== 'all') return;
    let live = true;
    api.alarms(false, 100).then(
      (page) => {
        if (!live) return;
        for (const alarm of page.items ?? []) dispatch({ type: 'alarm', alarm });
      },
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [api, dispatch, show]);

  const alarms = useMemo(
    () =>
      sortedAlarms(state.alarms, show === 'all').filter(
        (a) => (show !== 'unack' || a.state === 'ACTIVE_UNACK') && (!severity || a.severity === severity),
      ),
    [state.alarms, show, severity],
  );

  return (
    <section className="card">
      <div className="card-head">
        <h2>Alarms</h2>
        <div className="filters">
          <label>
            Show{' '}
            <select value={show} onChange={(e) => setShow(e.target.value as typeof show)} aria-label="Show">
              <option value="active">active</option>
              <option value="unack">not acknowledged</option>
              <option value="all">all, with cleared</option>
            </select>
          </label>
          <label>
            Severity{' '}
            <select value={severity} onChange={(e) => setSeverity(e.target.value as Severity | '')} aria-label="Severity">
              <option value="">any</option>
              <option value="CRITICAL">critical</option>
              <option value="MAJOR">major</option>
              <option value="WARNING">warning</option>
            </select>
          </label>
        </div>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <AlarmFeed alarms={alarms} />
    </section>
  );
}
