import { describe, expect, it } from 'vitest';
import type { NotificationPolicy } from '../api/types';
import { addressesOf, audienceText, chainText } from './NotificationsPage';

const policy: NotificationPolicy = {
  time_zone: 'Europe/Berlin',
  major: { roles: ['MANAGER', 'PHARMACIST'], shipment_driver: false, emails: [] },
  critical: { roles: ['MANAGER'], shipment_driver: true, emails: ['qa@hospital.example'] },
  escalation: {
    major_after_minutes: 30,
    critical_after_minutes: 15,
    reminders: 1,
    tiers: [{ roles: ['ADMIN'], shipment_driver: false, emails: [] }],
  },
};

describe('the notification policy page', () => {
  it('reads addresses however they are separated', () => {
    expect(addressesOf(' a@x.example, b@y.example;c@z.example\nd@w.example ')).toEqual([
      'a@x.example',
      'b@y.example',
      'c@z.example',
      'd@w.example',
    ]);
    expect(addressesOf('  ')).toEqual([]);
  });

  it('says whom each step reaches', () => {
    expect(audienceText(policy.critical)).toBe("managers, the shipment's driver, qa@hospital.example");
    expect(audienceText({ roles: [], shipment_driver: false, emails: [] })).toBe('nobody');
    expect(chainText(policy)).toBe(
      "A CRITICAL alarm: first managers, the shipment's driver, qa@hospital.example; after 15 min a reminder; after 30 min also admins.",
    );
  });
});
