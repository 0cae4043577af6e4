// The alarm feed: alarms as they are raised, escalated, acknowledged and cleared,
// live; each active one can be acknowledged (with an optional note).

import { useState } from 'react';
import type { AlarmItem } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { shipmentHref } from '../router';
import { alarmStateName, alarmTypeName, fmtAgo, fmtCrossing, fmtTime } from '../util/format';
import { useApp } from './AppContext';
import { canAcknowledge } from './permissions';

export function AlarmFeed({ alarms, compact = false }: { alarms: AlarmItem[]; compact?: boolean }) {
  if (alarms.length === 0) {
    return (
      <p className="muted empty" data-testid="no-alarms">
        No alarms.
      </p>
    );
  }
  return (
    <ul className="alarm-feed" data-testid="alarm-feed">
      {alarms.map((alarm) => (
        <AlarmRow key={alarm.alarm_id} alarm={alarm} compact={compact} />
      ))}
    </ul>
  );
}

export function AlarmRow({ alarm, compact }: { alarm: AlarmItem; compact?: boolean }) {
  const { user } = useApp();
  const { acknowledge } = useLive();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [noting, setNoting] = useState(false);
  const [note, setNote] = useState('');
  const crossing = fmtCrossing(alarm.crossing);

  const ack = async () => {
    setBusy(true);
    setError(null);
    try {
      await acknowledge(alarm, note.trim() || undefined);
      setNoting(false);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li
      className={`alarm sev-${alarm.severity} st-${alarm.state}`}
      data-testid="alarm"
      data-alarm-id={alarm.alarm_id}
      data-alarm-type={alarm.alarm_type}
      data-state={alarm.state}
      data-shipment-id={alarm.shipment_id}
    >
      <div className="alarm-head">
        <span className={`sev-pill sev-${alarm.severity}`}>{alarm.severity}</span>
        <strong>{alarmTypeName(alarm.alarm_type)}</strong>
        <span className="muted" title={fmtTime(alarm.raised_at)}>
          {fmtAgo(alarm.raised_at)}
        </span>
      </div>
      <div className="alarm-body">
        <a href={shipmentHref(alarm.shipment_id)}>{alarm.product ?? alarm.shipment_id}</a>
        {(alarm.detail || crossing) && (
          <div className={compact ? 'muted small' : 'muted'}>
            {alarm.detail}
            {alarm.detail && crossing && ' · '}
            {crossing && (
              <span className="alarm-crossing" data-testid="alarm-crossing" title="The worst limit or zone the alarm crossed">
                {crossing}
              </span>
            )}
          </div>
        )}
      </div>
      <div className="alarm-foot">
        <span className="alarm-state" data-testid="alarm-state">
          {alarmStateName(alarm.state)}
          {alarm.state === 'ACTIVE_ACK' && alarm.acknowledged_at && (
            <span className="muted"> · {fmtTime(alarm.acknowledged_at)}</span>
          )}
          {alarm.state === 'CLEARED' && alarm.cleared_at && <span className="muted"> · {fmtTime(alarm.cleared_at)}</span>}
        </span>
        {alarm.state === 'ACTIVE_UNACK' && canAcknowledge(user) && (
          <span className="ack">
            {noting && (
              <input
                aria-label="Note"
                placeholder="Note (optional)"
                value={note}
                maxLength={500}
                onChange={(e) => setNote(e.target.value)}
              />
            )}
            {!noting && (
              <button type="button" className="link small" onClick={() => setNoting(true)}>
                add note
              </button>
            )}
            <button type="button" className="primary small" disabled={busy} onClick={ack}>
              {busy ? 'Acknowledging…' : 'Acknowledge'}
            </button>
          </span>
        )}
      </div>
      {error && (
        <div className="error small" role="alert">
          {error}
        </div>
      )}
    </li>
  );
}
