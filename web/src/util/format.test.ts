import { describe, expect, it } from 'vitest';
import { alarmTypeName, fmtCrossing } from './format';

describe('fmtCrossing', () => {
  it('names the limit or zone crossed and by how much, as the alarm mails do', () => {
    expect(fmtCrossing({ limit: 'COLD_ZONE', threshold_c: 0, by_c: 10 })).toBe('10.0 °C below the 0 °C cold zone');
    expect(fmtCrossing({ limit: 'UPPER', threshold_c: 8, by_c: 1.8 })).toBe('1.8 °C above the 8 °C upper limit');
    expect(fmtCrossing({ limit: 'LOWER', threshold_c: 2, by_c: 0.44 })).toBe('0.4 °C below the 2 °C lower limit');
    expect(fmtCrossing({ limit: 'HOT_ZONE', threshold_c: -10, by_c: 3.26 })).toBe('3.3 °C above the -10 °C hot zone');
    expect(fmtCrossing({ limit: 'UPPER', threshold_c: 25.5, by_c: 2 })).toBe('2.0 °C above the 25.5 °C upper limit');
  });

  it('says nothing without a crossing', () => {
    expect(fmtCrossing(undefined)).toBe('');
    expect(fmtCrossing(null)).toBe('');
  });
});

describe('alarmTypeName', () => {
  it('names the alarm types in words', () => {
    expect(alarmTypeName('NO_DATA')).toBe('No data since dispatch');
    expect(alarmTypeName('DEVICE_OFFLINE')).toBe('Device offline');
    expect(alarmTypeName('SOMETHING_NEW')).toBe('Something new');
  });
});
