// Every alarm of the organisation's shipments, live, in three parts: the active ones, the
// cleared ones nobody has reviewed yet, and the reviewed ones.

import { useEffect, useMemo, useState } from 'react';
import type { AlarmItem, AlarmStatus, Severity } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { awaitsReview, sortedAlarms } from '../live/reducer';
import { useTick } from '../util/useTick';
import { AlarmFeed } from './AlarmFeed';
import { useApp } from './AppContext';

/** How often the cleared alarms are fetched again (the live events keep them current meanwhile). */
const CLEARED_REFRESH_MS = 60_000;

export function AlarmsPage() {
  const { api } = useApp();
  const { state, dispatch } = useLive();
  const [show, setShow] = useState<'active' | 'unack'>('active');
  const [severity, setSeverity] = useState<Severity | ''>('');
  const [error, setError] = useState<string | null>(null);
  useTick(10_000);

  useEffect(() => {
    let live = true;
    const load = () => {
      const statuses: AlarmStatus[] = ['unreviewed', 'reviewed'];
      for (const status of statuses) {
        api.alarms(status, 100).then(
          (page) => {
            if (!live) return;
            for (const alarm of page.items ?? []) dispatch({ type: 'alarm', alarm });
          },
          (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
        );
      }
    };
    load();
    const timer = window.setInterval(load, CLEARED_REFRESH_MS);
    return () => {
      live = false;
      window.clearInterval(timer);
    };
  }, [api, dispatch]);

  const { active, toReview, reviewed } = useMemo(() => {
    const bySeverity = (a: AlarmItem) => !severity || a.severity === severity;
    const every = sortedAlarms(state.alarms, true).filter(bySeverity);
    return {
      active: every.filter((a) => a.state !== 'CLEARED' && (show !== 'unack' || a.state === 'ACTIVE_UNACK')),
      toReview: every.filter(awaitsReview),
      reviewed: every.filter((a) => a.state === 'CLEARED' && a.review),
    };
  }, [state.alarms, show, severity]);

  return (
    <section className="card">
      <div className="card-head">
        <h2>Alarms</h2>
        <div className="filters">
          <label>
            Active{' '}
            <select value={show} onChange={(e) => setShow(e.target.value as typeof show)} aria-label="Show">
              <option value="active">all active</option>
              <option value="unack">not acknowledged</option>
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
      <div className="alarms-section" data-testid="alarms-active">
        <h3>Active ({active.length})</h3>
        <AlarmFeed alarms={active} />
      </div>
      <div className="alarms-section" data-testid="alarms-to-review">
        <h3>Cleared, waiting for review ({toReview.length})</h3>
        <AlarmFeed alarms={toReview} />
      </div>
      <details className="alarms-section" data-testid="alarms-reviewed" open={reviewed.length <= 5}>
        <summary>
          <h3 style={{ display: 'inline' }}>Reviewed ({reviewed.length})</h3>
        </summary>
        <AlarmFeed alarms={reviewed} />
      </details>
    </section>
  );
}
