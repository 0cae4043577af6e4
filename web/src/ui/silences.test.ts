import { describe, expect, it } from 'vitest';
import type { Shipment, User } from '../api/types';
import { canDeclareSilences } from './permissions';
import { localToUtc, silenceProblem } from './SilencesPanel';

const shipment = { shipper_org_id: 'org-s', recipient_org_id: 'org-r', state: 'IN_TRANSIT' } as Shipment;
const user = (role: User['role'], org_id: string) => ({ id: 'u', email: 'u@x', name: 'U', role, org_id }) as User;

describe('expected silences', () => {
  it('are declared by the shipper’s driver, manager or admin until the trip is over', () => {
    for (const role of ['DRIVER', 'MANAGER', 'ADMIN'] as const) {
      expect(canDeclareSilences(user(role, 'org-s'), shipment)).toBe(true);
    }
    expect(canDeclareSilences(user('PHARMACIST', 'org-s'), shipment)).toBe(false);
    expect(canDeclareSilences(user('MANAGER', 'org-r'), shipment)).toBe(false);
    expect(canDeclareSilences(user('MANAGER', 'org-s'), { ...shipment, state: 'DELIVERED' })).toBe(false);
    expect(canDeclareSilences(user('MANAGER', 'org-s'), { ...shipment, state: 'PENDING' })).toBe(true);
  });

  it('need a start before the end, at most 72 hours apart', () => {
    expect(silenceProblem(null, '2030-01-01T10:00:00Z')).toMatch(/both/);
    expect(silenceProblem('2030-01-01T10:00:00Z', '2030-01-01T09:00:00Z')).toMatch(/after the start/);
    expect(silenceProblem('2030-01-01T10:00:00Z', '2030-01-05T10:00:00Z')).toMatch(/72 hours/);
    expect(silenceProblem('2030-01-01T10:00:00Z', '2030-01-01T13:30:00Z')).toBeNull();
  });

  it('turn the browser’s local times into UTC', () => {
    expect(localToUtc('')).toBeNull();
    expect(localToUtc('not a time')).toBeNull();
    const utc = localToUtc('2030-01-01T10:00');
    expect(utc).toMatch(/^2030-01-01T\d\d:00:00Z$/);
    expect(Date.parse(utc!)).toBe(new Date('2030-01-01T10:00').getTime());
  });
});
