import { describe, expect, it } from 'vitest';
import type { Shipment, User } from '../api/types';
import { toRequest, validate, type FormState } from './NewShipmentPage';
import { allowedTransitions, canAcknowledge, canCreateShipment } from './permissions';

const blank: FormState = {
  product: '',
  quantity: '',
  amount: '',
  currency: 'EUR',
  kind: 'REFRIGERATED',
  min_c: '',
  max_c: '',
  alarm_delay_minutes: '',
  excursion_budget_minutes: '',
  lower_alarm_delay_minutes: '',
  lower_excursion_budget_minutes: '',
  hot_zone_above_c: '',
  hot_zone_delay_minutes: '',
  cold_zone_below_c: '',
  cold_zone_delay_minutes: '',
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

  const complete: FormState = {
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
  };

  it('accepts a complete order', () => {
    expect(validate(complete)).toEqual({});
  });

  it('sends a standard profile by its kind only', () => {
    expect(toRequest({ ...complete, min_c: '1', hot_zone_above_c: '30' })).toEqual({
      product: 'Insulin',
      quantity: 10,
      cargo_value: { amount: '1200.50', currency: 'EUR' },
      profile: { kind: 'REFRIGERATED' },
      shipper_org_id: 'org-ship',
      recipient_org_id: 'org-recv',
      origin: { name: 'Venlo', lat: 51.39, lon: 6.17 },
      destination: { name: 'Essen', lat: 51.43, lon: 7 },
    });
  });

  it('sends a custom profile with its lower side and the zones that have a temperature', () => {
    const custom: FormState = {
      ...complete,
      kind: 'CUSTOM',
      min_c: '-20',
      max_c: '-10',
      alarm_delay_minutes: '10',
      excursion_budget_minutes: '30',
      lower_alarm_delay_minutes: '20',
      lower_excursion_budget_minutes: '60',
      hot_zone_above_c: '-5',
      hot_zone_delay_minutes: '5',
      cold_zone_below_c: '-40',
    };
    expect(validate(custom)).toEqual({});
    expect(toRequest(custom).profile).toEqual({
      kind: 'CUSTOM',
      min_c: -20,
      max_c: -10,
      alarm_delay_minutes: 10,
      excursion_budget_minutes: 30,
      lower_alarm_delay_minutes: 20,
      lower_excursion_budget_minutes: 60,
      hot_zone: { above_c: -5, delay_minutes: 5 },
      cold_zone: { below_c: -40, delay_minutes: 0 },
    });
    // optional fields left empty are not sent; a zone without a temperature is not sent
    const fewer = { ...custom, lower_alarm_delay_minutes: '', lower_excursion_budget_minutes: '', hot_zone_above_c: ' ', hot_zone_delay_minutes: '' };
    expect(toRequest(fewer).profile).toEqual({
      kind: 'CUSTOM',
      min_c: -20,
      max_c: -10,
      alarm_delay_minutes: 10,
      excursion_budget_minutes: 30,
      cold_zone: { below_c: -40, delay_minutes: 0 },
    });
  });

  it('checks the zones lie outside the range, under the names the API uses', () => {
    const custom: FormState = { ...complete, kind: 'CUSTOM', min_c: '2', max_c: '8' };
    expect(validate({ ...custom, hot_zone_above_c: '8', cold_zone_below_c: '3' })).toEqual({
      'profile.hot_zone.above_c': 'must be above the maximum',
      'profile.cold_zone.below_c': 'must be below the minimum',
    });
    expect(Object.keys(validate({ ...custom, hot_zone_above_c: 'warm', cold_zone_delay_minutes: '5' })).sort()).toEqual([
      'profile.cold_zone.below_c',
      'profile.hot_zone.above_c',
    ]);
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
