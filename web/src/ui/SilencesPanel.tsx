// The trip's expected silences (a flight, a ferry): no DEVICE_OFFLINE or NO_DATA alarm while
// one lasts. The shipper's driver, manager or admin adds and removes them until the shipment is
// delivered; the API replaces the whole list at the shipment's version.

import { useState } from 'react';
import { ApiError } from '../api/session';
import type { Shipment, Silence } from '../api/types';
import { fmtTime } from '../util/format';
import { useApp } from './AppContext';
import { canDeclareSilences } from './permissions';

/** A `datetime-local` value (the browser's zone) as an RFC 3339 UTC time; null when blank. */
export function localToUtc(value: string): string | null {
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString().replace('.000Z', 'Z');
}

/** What is wrong with a new silence, in words, or null. */
export function silenceProblem(from: string | null, to: string | null): string | null {
  if (!from || !to) return 'Give both the start and the end.';
  const hours = (Date.parse(to) - Date.parse(from)) / 3_600_000;
  if (hours <= 0) return 'The end must come after the start.';
  if (hours > 72) return 'An expected silence lasts at most 72 hours.';
  return null;
}

export function SilencesPanel({ shipment, onChanged }: { shipment: Shipment; onChanged: (s: Shipment) => void }) {
  const { api, user } = useApp();
  const silences = shipment.expected_silences ?? [];
  const editable = canDeclareSilences(user, shipment);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!editable && silences.length === 0) return null;

  const save = async (next: Silence[]) => {
    setBusy(true);
    setError(null);
    try {
      onChanged(await api.setSilences(shipment.id, shipment.version, next));
      setFrom('');
      setTo('');
      setReason('');
    } catch (e) {
      const stale = e instanceof ApiError && e.status === 409;
      setError(stale ? 'The shipment changed meanwhile; reload the page and try again.' : e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const add = () => {
    const start = localToUtc(from);
    const end = localToUtc(to);
    const problem = silenceProblem(start, end);
    if (problem) {
      setError(problem);
      return;
    }
    const added: Silence = { from: start!, to: end!, ...(reason.trim() ? { reason: reason.trim() } : {}) };
    void save([...silences, added]);
  };

  return (
    <section className="card" data-testid="silences">
      <h3>Expected silences</h3>
      <p className="muted small">No offline or no-data alarm while the logger cannot report; readings it uploads later still count.</p>
      {silences.length === 0 ? (
        <p className="muted">None declared.</p>
      ) : (
        <ul className="silences">
          {silences.map((s, i) => (
            <li key={`${s.from}-${s.to}`} data-testid="silence">
              {fmtTime(s.from)} – {fmtTime(s.to)}
              {s.reason ? <span className="muted"> · {s.reason}</span> : null}
              {editable && (
                <button
                  type="button"
                  className="link"
                  disabled={busy}
                  onClick={() => void save(silences.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {editable && (
        <form
          className="silence-form"
          onSubmit={(e) => {
            e.preventDefault();
            add();
          }}
        >
          <label>
            From <input type="datetime-local" aria-label="Silence from" value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            To <input type="datetime-local" aria-label="Silence to" value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
          <input
            aria-label="Silence reason"
            placeholder="Why (e.g. ferry Rostock–Trelleborg)"
            maxLength={200}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
          <button type="submit" className="primary" disabled={busy || silences.length >= 10}>
            {busy ? 'Saving…' : 'Add expected silence'}
          </button>
        </form>
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
