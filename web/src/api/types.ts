// The shapes the REST API and the live event stream carry (see infra/openapi.yaml,
// docs/websocket-protocol.md and shared/domain/src/coldchain/).

export type Role = 'ADMIN' | 'MANAGER' | 'PHARMACIST' | 'DRIVER';

export type ShipmentState = 'PENDING' | 'DISPATCHED' | 'IN_TRANSIT' | 'DELIVERED' | 'CANCELLED';

export const SHIPMENT_STATES: ShipmentState[] = ['PENDING', 'DISPATCHED', 'IN_TRANSIT', 'DELIVERED', 'CANCELLED'];

export type AlarmState = 'ACTIVE_UNACK' | 'ACTIVE_ACK' | 'CLEARED';
export type Severity = 'WARNING' | 'MAJOR' | 'CRITICAL';
export type AlarmType = 'TEMPERATURE_EXCURSION' | 'BUDGET_EXHAUSTED' | 'SHOCK' | 'DEVICE_OFFLINE' | 'NO_DATA' | 'PRE_EXCURSION' | string;

export interface User {
  id: string;
  email: string;
  name: string;
  org_id: string;
  role: Role;
  version?: number;
}

export interface TokenPair {
  access_token: string;
  token_type?: string;
  expires_in: number;
  refresh_token: string;
  user?: User;
}

export interface Organisation {
  id: string;
  name: string;
  kind: string;
}

export interface Place {
  name: string;
  lat: number;
  lon: number;
}

export interface Money {
  amount: string;
  currency: string;
}

/** A CUSTOM profile's outer zone above its range: CRITICAL after `delay_minutes` above `above_c`. */
export interface HotZoneInput {
  above_c: number;
  delay_minutes: number;
}

/** A CUSTOM profile's outer zone below its range: CRITICAL after `delay_minutes` below `below_c`. */
export interface ColdZoneInput {
  below_c: number;
  delay_minutes: number;
}

/** A temperature profile: `{kind}` for a standard one; a CUSTOM one also has its range, delays, budgets and zones. */
export interface ProfileInput {
  kind: string;
  min_c?: number;
  max_c?: number;
  /** Above the range (and below it unless `lower_alarm_delay_minutes` is given). */
  alarm_delay_minutes?: number;
  /** Above the range (and below it unless `lower_excursion_budget_minutes` is given). */
  excursion_budget_minutes?: number;
  lower_alarm_delay_minutes?: number;
  lower_excursion_budget_minutes?: number;
  hot_zone?: HotZoneInput;
  cold_zone?: ColdZoneInput;
}

export interface Shipment {
  id: string;
  product: string;
  quantity: number;
  cargo_value: Money;
  profile: ProfileInput;
  shipper_org_id: string;
  recipient_org_id: string;
  origin: Place;
  destination: Place;
  device_id?: string | null;
  truck_id?: string | null;
  state: ShipmentState;
  version: number;
  /** Stretches where the logger cannot report (a flight, a ferry). */
  expected_silences?: Silence[];
  /** Who started the trip (its driver, in the usual case). */
  started_by?: string | null;
  created_at?: string;
  created_by?: string;
  updated_at?: string;
}

/** An expected silence: no DEVICE_OFFLINE or NO_DATA alarm from `from` to `to`. */
export interface Silence {
  from: string;
  to: string;
  reason?: string | null;
}

export interface NewShipment {
  product: string;
  quantity: number;
  cargo_value: Money;
  profile: ProfileInput;
  shipper_org_id: string;
  recipient_org_id: string;
  origin: Place;
  destination: Place;
  device_id?: string;
  truck_id?: string;
}

export interface Reading {
  reading_id: string;
  ts: string;
  lat: number;
  lon: number;
  temperature_c: number;
  vibration_g: number;
}

/** The temperature band of a shipment as tracking reports it. */
export interface Band {
  kind: string;
  min_c: number;
  max_c: number;
  /** The hot zone starts above this temperature (absent: the profile has none). */
  hot_zone_c?: number;
  /** The cold zone starts below this temperature (absent: the profile has none). */
  cold_zone_c?: number;
}

export interface AlarmRef {
  alarm_id: string;
  alarm_type: AlarmType;
  severity: Severity;
  state: AlarmState;
}

/** One shipment on its way: `GET /v1/tracking` items and `tracking.updated` events. */
export interface Tracking {
  shipment_id: string;
  state: ShipmentState;
  product?: string;
  device_id?: string | null;
  shipper_org_id: string;
  recipient_org_id: string;
  origin?: Place;
  destination?: Place;
  latest: Reading | null;
  mkt_c: number | null;
  /** Minutes out of range over the trip, both sides. */
  excursion_minutes: number;
  /** The excursion budget, both sides' budgets added. */
  budget_minutes: number;
  // The figures below are sent by the current API; data stored before it lacks them.
  /** Minutes above the range over the trip. */
  minutes_above?: number;
  /** Minutes below the range over the trip. */
  minutes_below?: number;
  /** Fraction of the budget used (0..1, more when exceeded), the larger of the two sides. */
  budget_used?: number;
  /** Fraction (0..1) of the trip's elapsed time covered by readings; null before the first reading. */
  coverage?: number | null;
  /** The longest silence between two readings, minutes. */
  longest_gap_minutes?: number;
  /** The coldest reading of the trip. */
  min_temperature_c?: number | null;
  /** The warmest reading of the trip. */
  max_temperature_c?: number | null;
  profile: Band;
  active_alarms: AlarmRef[];
}

export type Limit = 'UPPER' | 'LOWER' | 'HOT_ZONE' | 'COLD_ZONE';

/** The worst limit or zone a temperature alarm crossed, and by how much (`by_c` ≥ 0). */
export interface Crossing {
  limit: Limit;
  threshold_c: number;
  by_c: number;
}

export interface Alarm {
  alarm_id: string;
  shipment_id: string;
  alarm_type: AlarmType;
  severity: Severity;
  state: AlarmState;
  raised_at: string;
  last_seen: string;
  count?: number;
  value?: number;
  peak_value?: number;
  peak_magnitude?: number;
  detail?: string;
  crossing?: Crossing;
  acknowledged_by?: string | null;
  acknowledged_at?: string | null;
  cleared_at?: string | null;
  /** The review at the current severity (reason and disposition). */
  review?: Review | null;
  /** Reviews an escalation reset, oldest first. */
  earlier_reviews?: Review[];
}

export type Disposition =
  | 'NO_PRODUCT_IMPACT'
  | 'PRODUCT_QUARANTINED'
  | 'PRODUCT_REJECTED'
  | 'ESCALATED_TO_QA'
  | 'DEVICE_FAULT';

export interface Review {
  by: string;
  at: string;
  reason: string;
  disposition: Disposition;
  severity: Severity;
  after_clearing: boolean;
}

/** Which alarms of the feed: active, cleared and waiting for a review, cleared and reviewed, or all. */
export type AlarmStatus = 'active' | 'unreviewed' | 'reviewed' | 'all';

/** An alarm as the alarm list shows it: with its shipment's product and organisations. */
export interface AlarmItem extends Alarm {
  product?: string;
  shipper_org_id?: string;
  recipient_org_id?: string;
}

export interface RiskPart {
  component: 'CRASH' | 'EXCURSION_SPOILAGE' | 'COLD_SPOILAGE' | 'MKT_SPOILAGE' | string;
  fraction: number;
  amount: string;
  basis: string;
}

export interface RiskEstimate {
  currency: string;
  cargo_value: string;
  parts: RiskPart[];
  total_fraction: number;
  total: string;
  assumptions: string[];
}

/** `GET /v1/shipments/{id}/tracking`. */
export interface TrackingDetail extends Tracking {
  alarms: Alarm[];
  risk: RiskEstimate | null;
}

export interface AuditRecord {
  entity_type: string;
  entity_id: string;
  record_id: string;
  at: string;
  actor: { id: string; org_id?: string; role?: string };
  action: string;
  before: unknown;
  after: unknown;
}

export interface Page<T> {
  items: T[];
  next?: string | null;
}

// ---- live events (the `data` of a WebSocket event message)

/** Body of `tracking.updated`. */
export interface TrackingEvent extends Tracking {
  event_id: string;
  event_type: 'tracking.updated';
  occurred_at: string;
}

/** Body of `alarm.*` (shared/domain/src/coldchain/events.rs). */
export interface AlarmEvent {
  v?: number;
  event_id: string;
  event_type: 'alarm.raised' | 'alarm.escalated' | 'alarm.cleared' | 'alarm.acknowledged';
  occurred_at: string;
  alarm: Alarm;
  from_severity?: Severity | null;
  shipment: {
    shipment_id: string;
    product: string;
    shipper_org_id: string;
    recipient_org_id: string;
    origin?: Place;
    destination?: Place;
    device_id?: string | null;
    state?: ShipmentState;
    profile?: ProfileInput;
  };
  context?: Record<string, unknown>;
  risk?: RiskEstimate | null;
}

/** Body of `shipment.*` (README, "shipment events"). */
export interface ShipmentEvent {
  event_id: string;
  event_type: string;
  version: number;
  occurred_at: string;
  shipment_id: string;
  shipper_org_id: string;
  recipient_org_id: string;
  state: ShipmentState;
  shipment: Shipment;
}

/** One server → client message of the WebSocket protocol v1. */
export interface ServerMessage {
  v: number;
  type: string;
  id?: string;
  shipment_id?: string;
  data?: unknown;
  truncated?: boolean;
  code?: string;
  message?: string;
  field?: string;
}

/** Who an organisation mails for a severity (shared/domain/src/notification/policy.rs). */
export interface Audience {
  roles: Role[];
  shipment_driver: boolean;
  emails: string[];
}

/** An organisation's notification policy. */
export interface NotificationPolicy {
  time_zone: string;
  major: Audience;
  critical: Audience;
  escalation: {
    major_after_minutes: number;
    critical_after_minutes: number;
    reminders: number;
    tiers: Audience[];
  };
}

/** `GET|PUT /v1/auth/organisations/{id}/notifications`. */
export interface NotificationPolicyAnswer {
  org_id: string;
  policy: NotificationPolicy;
  /** True while the organisation set no policy of its own. */
  default: boolean;
}
