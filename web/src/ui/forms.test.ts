import { describe, expect, it } from 'vitest';
import type { Shipment, User } from '../api/types';
import { validate } from './NewShipmentPage';
import { allowedTransitions, canAcknowledge, canCreateShipment } from './permissions';

const blank = {
  product: '',
  quantity: '',
  amount: '',
  currency: 'EUR',
  kind: 'REFRIGERATED',
  min_c: '',
  max_c: '',
  alarm_delay_minutes: '',
  excursion_budget_minutes: '',
  shipper_org_id: 'org-ship',
  recipient_org_id: '',
  origin_name: '',
  origin_lat: '',
  origin_lon: '',
  destination_name: '',
  destination_lat: '',
  destination_lon: '',
  device_id: '',
  truck_id: '',
};

describe('the shipment form', () => {
  it('names every missing or bad field with the names the API uses', () => {
    expect(Object.keys(validate(blank)).sort()).toEqual(
      [
        'cargo_value.amount',
        'destination.lat',
        'destination.lon',
        'destination.name',
        'origin.lat',
        'origin.lon',
        'origin.name',
        'product',
        'quantity',
        'recipient_org_id',
      ].sort(),
    );
    const custom = { ...blank, kind: 'CUSTOM', min_c: '8', max_c: '2' };
    expect(validate(custom)['profile.max_c']).toBe('must be above the minimum');
  });

  it('accepts a complete order', () => {
    expect(
      validate({
        ...blank,
        product: 'Insulin',
        quantity: '10',
        amount: '1200.50',
        recipient_org_id: 'org-recv',
        origin_name: 'Venlo',
        origin_lat: '51.39',
        origin_lon: '6.17',
        destination_name: 'Essen',
        destination_lat: '51.43',
        destination_lon: '7.0',
      }),
    ).toEqual({});
  });
});

describe('who is offered which action', () => {
  const user = (role: User['role'], org_id: string): User => ({ id: 'u', email: 'e', name: 'n', role, org_id });
  const shipment = (state: Shipment['state']) =>
    ({ id: 's', state, shipper_org_id: 'org-ship', recipient_org_id: 'org-recv', version: 1 }) as Shipment;

  it('follows the README table', () => {
    expect(allowedTransitions(user('MANAGER', 'org-ship'), shipment('PENDING'))).toEqual(['dispatch', 'cancel']);
    expect(allowedTransitions(user('MANAGER', 'org-recv'), shipment('PENDING'))).toEqual(['cancel']);
    expect(allowedTransitions(user('DRIVER', 'org-ship'), shipment('DISPATCHED'))).toEqual(['start']);
    expect(allowedTransitions(user('PHARMACIST', 'org-recv'), shipment('IN_TRANSIT'))).toEqual(['deliver']);
    expect(allowedTransitions(user('PHARMACIST', 'org-ship'), shipment('IN_TRANSIT'))).toEqual([]);
    expect(allowedTransitions(user('MANAGER', 'org-other'), shipment('PENDING'))).toEqual([]);
    expect(allowedTransitions(user('ADMIN', 'org-ship'), shipment('DELIVERED'))).toEqual([]);
    expect(canCreateShipment(user('DRIVER', 'org-ship'))).toBe(false);
    expect(canAcknowledge(user('DRIVER', 'org-ship'))).toBe(false);
    expect(canAcknowledge(user('PHARMACIST', 'org-recv'))).toBe(true);
  });
});
