// The REST API as the dashboard uses it. Every call carries a fresh access token;
// a 401 gets one refresh and one retry (the token may have expired in flight).

import { ApiError, readBody, Session, type FetchLike } from './session';
import type {
  AlarmItem,
  AlarmStatus,
  AuditRecord,
  Disposition,
  NewShipment,
  NotificationPolicy,
  NotificationPolicyAnswer,
  Organisation,
  Page,
  Reading,
  Shipment,
  ShipmentState,
  Silence,
  Tracking,
  TrackingDetail,
} from './types';

export type Transition = 'dispatch' | 'start' | 'deliver' | 'cancel';

export class ApiClient {
  constructor(
    readonly session: Session,
    private readonly fetchFn: FetchLike = (input, init) => fetch(input, init),
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const send = async (token: string) =>
      this.fetchFn(`${this.session.apiBaseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    let response = await send(await this.session.accessToken());
    if (response.status === 401) {
      response = await send(await this.session.accessToken(true));
    }
    const payload = await readBody(response);
    if (!response.ok) throw new ApiError(response.status, payload, `${method} ${path}: ${response.status}`);
    return payload as T;
  }

  tracking(): Promise<Page<Tracking>> {
    return this.request('GET', '/v1/tracking');
  }

  shipmentTracking(id: string): Promise<TrackingDetail> {
    return this.request('GET', `/v1/shipments/${encodeURIComponent(id)}/tracking`);
  }

  async readings(id: string, from?: string, maxPages = 10): Promise<Reading[]> {
    const items: Reading[] = [];
    let next: string | null | undefined;
    for (let page = 0; page < maxPages; page += 1) {
      const query = new URLSearchParams({ limit: '2000' });
      if (from) query.set('from', from);
      if (next) query.set('next', next);
      const result = await this.request<Page<Reading>>(
        'GET',
        `/v1/shipments/${encodeURIComponent(id)}/readings?${query}`,
      );
      items.push(...result.items);
      next = result.next;
      if (!next) break;
    }
    return items;
  }

  alarms(status: AlarmStatus = 'active', limit = 100): Promise<Page<AlarmItem>> {
    return this.request('GET', `/v1/alarms?status=${status}&limit=${limit}`);
  }

  /** Reviews an alarm, active (which acknowledges it) or cleared. */
  review(shipmentId: string, alarmId: string, reason: string, disposition: Disposition): Promise<AlarmItem> {
    return this.request(
      'POST',
      `/v1/shipments/${encodeURIComponent(shipmentId)}/alarms/${encodeURIComponent(alarmId)}/acknowledge`,
      { reason, disposition },
    );
  }

  shipments(state?: ShipmentState, next?: string | null, limit = 50): Promise<Page<Shipment>> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (state) query.set('state', state);
    if (next) query.set('next', next);
    return this.request('GET', `/v1/shipments?${query}`);
  }

  shipment(id: string): Promise<Shipment> {
    return this.request('GET', `/v1/shipments/${encodeURIComponent(id)}`);
  }

  createShipment(shipment: NewShipment): Promise<Shipment> {
    return this.request('POST', '/v1/shipments', shipment);
  }

  transition(id: string, action: Transition, version: number, reason?: string): Promise<Shipment> {
    return this.request('POST', `/v1/shipments/${encodeURIComponent(id)}/${action}`, {
      version,
      ...(reason ? { reason } : {}),
    });
  }

  /** Replaces the trip's expected silences (the whole list). */
  setSilences(id: string, version: number, silences: Silence[]): Promise<Shipment> {
    return this.request('PUT', `/v1/shipments/${encodeURIComponent(id)}/silences`, {
      version,
      expected_silences: silences,
    });
  }

  audit(id: string): Promise<Page<AuditRecord>> {
    return this.request('GET', `/v1/shipments/${encodeURIComponent(id)}/audit`);
  }

  notificationPolicy(orgId: string): Promise<NotificationPolicyAnswer> {
    return this.request('GET', `/v1/auth/organisations/${encodeURIComponent(orgId)}/notifications`);
  }

  setNotificationPolicy(orgId: string, policy: NotificationPolicy): Promise<NotificationPolicyAnswer> {
    return this.request('PUT', `/v1/auth/organisations/${encodeURIComponent(orgId)}/notifications`, policy);
  }

  async organisations(): Promise<Organisation[]> {
    const result = await this.request<{ organisations?: Organisation[]; items?: Organisation[] }>(
      'GET',
      '/v1/auth/organisations',
    );
    return result.organisations ?? result.items ?? [];
  }
}
