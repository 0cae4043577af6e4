// How numbers, times and names are shown.

import type { AlarmType, Crossing, Disposition, Limit, ShipmentState } from '../api/types';

export function fmtTemp(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(1)} °C` : '–';
}

export function fmtNumber(value: number | null | undefined, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('en-GB', {
    day: '2-digit',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

export function fmtMoney(amount: string | undefined, currency: string | undefined): string {
  if (amount === undefined) return '–';
  const value = Number(amount);
  if (!Number.isFinite(value) || !currency) return `${amount} ${currency ?? ''}`.trim();
  try {
    return value.toLocaleString('en-GB', { style: 'currency', currency });
  } catch {
    return `${amount} ${currency}`;
  }
}

export function fmtPercent(fraction: number | null | undefined): string {
  return typeof fraction === 'number' && Number.isFinite(fraction) ? `${Math.round(fraction * 100)} %` : '–';
}

const STATE_NAMES: Record<ShipmentState, string> = {
  PENDING: 'Pending',
  DISPATCHED: 'Dispatched',
  IN_TRANSIT: 'In transit',
  DELIVERED: 'Delivered',
  CANCELLED: 'Cancelled',
};

export function stateName(state: ShipmentState | string): string {
  return STATE_NAMES[state as ShipmentState] ?? state;
}

export function alarmTypeName(type: AlarmType): string {
  switch (type) {
    case 'TEMPERATURE_EXCURSION':
      return 'Temperature excursion';
    case 'BUDGET_EXHAUSTED':
      return 'Excursion budget exhausted';
    case 'SHOCK':
      return 'Shock (possible crash)';
    case 'DEVICE_OFFLINE':
      return 'Device offline';
    case 'NO_DATA':
      return 'No data since dispatch';
    case 'PRE_EXCURSION':
      return 'Temperature trend';
    default:
      return String(type)
        .toLowerCase()
        .replace(/_/g, ' ')
        .replace(/^./, (c) => c.toUpperCase());
  }
}

const LIMIT_NAMES: Record<Limit, string> = {
  UPPER: 'upper limit',
  LOWER: 'lower limit',
  HOT_ZONE: 'hot zone',
  COLD_ZONE: 'cold zone',
};

/** What a temperature alarm crossed, in words: "10.0 °C below the 0 °C cold zone" ('' for none). */
export function fmtCrossing(crossing: Crossing | null | undefined): string {
  if (!crossing || !Number.isFinite(crossing.by_c) || !Number.isFinite(crossing.threshold_c)) return '';
  const side = crossing.limit === 'UPPER' || crossing.limit === 'HOT_ZONE' ? 'above' : 'below';
  const name = LIMIT_NAMES[crossing.limit] ?? String(crossing.limit).toLowerCase().replace(/_/g, ' ');
  return `${crossing.by_c.toFixed(1)} °C ${side} the ${crossing.threshold_c} °C ${name}`;
}

export function alarmStateName(state: string): string {
  switch (state) {
    case 'ACTIVE_UNACK':
      return 'Active, not acknowledged';
    case 'ACTIVE_ACK':
      return 'Acknowledged';
    case 'CLEARED':
      return 'Cleared';
    default:
      return state;
  }
}

/** The dispositions a reviewer picks from, in the order the form lists them. */
export const DISPOSITIONS: { value: Disposition; label: string }[] = [
  { value: 'NO_PRODUCT_IMPACT', label: 'No product impact' },
  { value: 'PRODUCT_QUARANTINED', label: 'Product quarantined' },
  { value: 'ESCALATED_TO_QA', label: 'Escalated to QA' },
  { value: 'PRODUCT_REJECTED', label: 'Product rejected' },
  { value: 'DEVICE_FAULT', label: 'Device fault, not the cargo' },
];

export function dispositionName(disposition: string): string {
  return DISPOSITIONS.find((d) => d.value === disposition)?.label ?? disposition;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
