// The alarm feed: alarms as they are raised, escalated, acknowledged and cleared,
// live. Any alarm, active or cleared, can be reviewed by a manager, pharmacist or
// admin: a reason and a disposition (an active alarm is acknowledged by it).

import { useState } from 'react';
import type { AlarmItem, Disposition } from '../api/types';
import { useLive } from '../live/LiveProvider';
import { shipmentHref } from '../router';
import {
  alarmStateName,
  alarmTypeName,
  DISPOSITIONS,
  dispositionName,
  fmtAgo,
  fmtCrossing,
  fmtTime,
} from '../util/format';
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
  const [reviewing, setReviewing] = useState(false);
  const crossing = fmtCrossing(alarm.crossing);
  const cleared = alarm.state === 'CLEARED';
  const mayReview = canAcknowledge(user) && !alarm.review;

  return (
    <li
      className={`alarm sev-${alarm.severity} st-${alarm.state}${cleared && !alarm.review ? ' to-review' : ''}`}
      data-testid="alarm"
      data-alarm-id={alarm.alarm_id}
      data-alarm-type={alarm.alarm_type}
      data-state={alarm.state}
      data-reviewed={alarm.review ? 'true' : 'false'}
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
          {cleared && alarm.cleared_at && <span className="muted"> · {fmtTime(alarm.cleared_at)}</span>}
          {cleared && !alarm.review && <span className="review-due"> · not reviewed</span>}
        </span>
        {mayReview && !reviewing && (
          <button type="button" className="primary small" onClick={() => setReviewing(true)}>
            {cleared ? 'Review' : alarm.state === 'ACTIVE_ACK' ? 'Add review' : 'Acknowledge'}
          </button>
        )}
      </div>
      {alarm.review && (
        <div className="alarm-review small" data-testid="alarm-review">
          <strong data-testid="alarm-disposition">{dispositionName(alarm.review.disposition)}</strong>
          {' · '}
          <span className="review-reason">{alarm.review.reason}</span>
          <span className="muted">
            {' · '}
            {alarm.review.by}, {fmtTime(alarm.review.at)}
            {alarm.review.after_clearing ? ' (after clearing)' : ''}
          </span>
        </div>
      )}
      {(alarm.earlier_reviews?.length ?? 0) > 0 && (
        <div className="muted small" data-testid="earlier-reviews">
          Reviewed at {alarm.earlier_reviews!.map((r) => `${r.severity} (${dispositionName(r.disposition)})`).join(', ')}{' '}
          before it escalated
        </div>
      )}
      {reviewing && <ReviewForm alarm={alarm} onDone={() => setReviewing(false)} />}
    </li>
  );
}

/** The review of one alarm: a disposition and a reason, both required. */
function ReviewForm({ alarm, onDone }: { alarm: AlarmItem; onDone: () => void }) {
  const { review } = useLive();
  const [disposition, setDisposition] = useState<Disposition | ''>('');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ready = disposition !== '' && reason.trim().length > 0;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!ready) {
      setError('Choose a disposition and give a reason.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await review(alarm, reason.trim(), disposition);
      onDone();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="review-form" data-testid="review-form" onSubmit={submit}>
      <label>
        Disposition{' '}
        <select
          aria-label="Disposition"
          value={disposition}
          required
          onChange={(e) => setDisposition(e.target.value as Disposition | '')}
        >
          <option value="">choose…</option>
          {DISPOSITIONS.map((d) => (
            <option key={d.value} value={d.value}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Reason{' '}
        <textarea
          aria-label="Reason"
          placeholder="What happened, what was checked or done"
          value={reason}
          maxLength={500}
          rows={2}
          required
          onChange={(e) => setReason(e.target.value)}
        />
      </label>
      <span className="review-actions">
        <button type="submit" className="primary small" disabled={busy || !ready}>
          {busy ? 'Saving…' : alarm.state === 'CLEARED' ? 'Save review' : 'Acknowledge with review'}
        </button>
        <button type="button" className="link small" onClick={onDone}>
          cancel
        </button>
      </span>
      {error && (
        <div className="error small" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}
