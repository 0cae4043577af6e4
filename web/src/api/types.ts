// The shapes the REST API and the live event stream carry (see infra/openapi.yaml,
// docs/websocket-protocol.md and shared/domain/src/coldchain/).

export type Role = 'ADMIN' | 'MANAGER' | 'PHARMACIST' | 'DRIVER';

export type ShipmentState = 'PENDING' | 'DISPATCHED' | 'IN_TRANSIT' | 'DELIVERED' | 'CANCELLED';

export const SHIPMENT_STATES: ShipmentState[] = ['PENDING', 'DISPATCHED', 'IN_TRANSIT', 'DELIVERED', 'CANCELLED'];

export type AlarmState = 'ACTIVE_UNACK' | 'ACTIVE_ACK' | 'CLEARED';
export type Severity = 'WARNING' | 'MAJOR' | 'CRITICAL';
export type AlarmType = 'TEMPERATURE_EXCURSION' | 'BUDGET_EXHAUSTED' | 'SHOCK' | 'DEVICE_OFFLINE' | 'PRE_EXCURSION' | string;

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

export interface ProfileInput {
  kind: string;
  min_c?: number;
  max_c?: number;
  alarm_delay_minutes?: number;
  excursion_budget_minutes?: number;
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
  created_at?: string;
  created_by?: string;
  updated_at?: string;
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
  excursion_minutes: number;
  budget_minutes: number;
  profile: Band;
  active_alarms: AlarmRef[];
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
  acknowledged_by?: string | null;
  acknowledged_at?: string | null;
  cleared_at?: string | null;
}

/** An alarm as the alarm list shows it: with its shipment's product and organisations. */
export interface AlarmItem extends Alarm {
  product?: string;
  shipper_org_id?: string;
  recipient_org_id?: string;
}

export interface RiskPart {
  component: 'CRASH' | 'EXCURSION_SPOILAGE' | 'MKT_SPOILAGE' | string;
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
