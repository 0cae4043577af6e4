// The cold-chain figures of one shipment: the temperature now with the data's coverage,
// MKT with the trip's lowest and highest reading, the excursion budget used with the
// minutes above and below the range, and the estimated loss.

import type { Band, TrackingDetail } from '../api/types';
import { fmtAgo, fmtMoney, fmtNumber, fmtPercent, fmtTemp } from '../util/format';

export function ColdChainStats({ tracking, band }: { tracking: TrackingDetail | null; band: Band }) {
  const position = tracking?.latest;
  const budgetUsed = budgetUsedOf(tracking);
  return (
    <section className="card stats" aria-label="Cold chain">
      <div className="stat">
        <div className="stat-label">Temperature now</div>
        <div
          className={`stat-value ${position && (position.temperature_c < band.min_c || position.temperature_c > band.max_c) ? 'out' : ''}`}
          data-testid="current-temperature"
        >
          {fmtTemp(position?.temperature_c)}
        </div>
        <div className="muted small">last seen {position ? fmtAgo(position.ts) : 'never'}</div>
        {tracking && tracking.coverage !== undefined && (
          <div className="muted small" data-testid="coverage">
            Data coverage: {fmtPercent(tracking.coverage)}
            {tracking.coverage !== null && ` (longest gap ${fmtNumber(tracking.longest_gap_minutes, 0)} min)`}
          </div>
        )}
      </div>
      <div className="stat">
        <div className="stat-label">Mean kinetic temperature</div>
        <div className="stat-value" data-testid="mkt">
          {fmtTemp(tracking?.mkt_c)}
        </div>
        <div className="muted small">of the trip so far</div>
        {tracking && (tracking.min_temperature_c !== undefined || tracking.max_temperature_c !== undefined) && (
          <div className="muted small" data-testid="min-max">
            Lowest / highest: {fmtTemp(tracking.min_temperature_c)} / {fmtTemp(tracking.max_temperature_c)}
          </div>
        )}
      </div>
      <div className="stat">
        <div className="stat-label">Excursion budget used</div>
        <div className={`stat-value ${budgetUsed !== null && budgetUsed >= 1 ? 'out' : ''}`} data-testid="budget-used">
          {fmtPercent(budgetUsed)}
        </div>
        <div className="meter" aria-hidden="true">
          <span
            style={{ width: `${Math.min(100, (budgetUsed ?? 0) * 100)}%` }}
            className={budgetUsed !== null && budgetUsed >= 0.5 ? 'warn' : ''}
          />
        </div>
        <div className="muted small" data-testid="minutes-sides" title={`budget: ${tracking?.budget_minutes ?? '–'} min, both sides`}>
          {tracking?.minutes_above !== undefined || tracking?.minutes_below !== undefined
            ? `${fmtNumber(tracking.minutes_above)} min above, ${fmtNumber(tracking.minutes_below)} min below the range, budget used ${fmtPercent(budgetUsed)}`
            : `${fmtNumber(tracking?.excursion_minutes)} of ${tracking?.budget_minutes ?? '–'} min out of range`}
        </div>
      </div>
      <div className="stat">
        <div className="stat-label">Estimated loss</div>
        <div className="stat-value" data-testid="risk-total">
          {tracking?.risk ? fmtMoney(tracking.risk.total, tracking.risk.currency) : '–'}
        </div>
        <div className="muted small">
          {tracking?.risk ? `${fmtPercent(tracking.risk.total_fraction)} of the cargo value` : 'no estimate (no major alarm)'}
        </div>
      </div>
    </section>
  );
}

/**
 * The fraction of the excursion budget used: the larger side's, as the API reports it;
 * for data stored before it did, minutes out of range over the whole budget.
 */
export function budgetUsedOf(tracking: Pick<TrackingDetail, 'budget_used' | 'budget_minutes' | 'excursion_minutes'> | null): number | null {
  if (!tracking || !(tracking.budget_minutes > 0)) return null;
  return tracking.budget_used ?? tracking.excursion_minutes / tracking.budget_minutes;
}
