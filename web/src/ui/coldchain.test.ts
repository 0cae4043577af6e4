import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { Reading, TrackingDetail } from '../api/types';
import { budgetUsedOf, ColdChainStats } from './ColdChainStats';
import { TemperatureChart } from './TemperatureChart';

const band = { kind: 'REFRIGERATED', min_c: 2, max_c: 8, hot_zone_c: 25, cold_zone_c: 0 };

const detail = (extra: Partial<TrackingDetail> = {}): TrackingDetail => ({
  shipment_id: 'shp-1',
  state: 'IN_TRANSIT',
  shipper_org_id: 'org-ship',
  recipient_org_id: 'org-recv',
  latest: { reading_id: 'r1', ts: '2026-11-21T10:00:00Z', lat: 52, lon: 5, temperature_c: 1.5, vibration_g: 0.1 },
  mkt_c: 5.2,
  excursion_minutes: 17,
  budget_minutes: 75,
  minutes_above: 12,
  minutes_below: 5,
  budget_used: 0.333,
  coverage: 0.874,
  longest_gap_minutes: 14.2,
  min_temperature_c: 1.2,
  max_temperature_c: 9.8,
  profile: band,
  active_alarms: [],
  alarms: [],
  risk: null,
  ...extra,
});

const text = (html: string, testid: string) => {
  const match = new RegExp(`data-testid="${testid}"[^>]*>(.*?)</div>`).exec(html);
  return match?.[1].replace(/<!-- -->/g, '');
};

describe('the cold-chain figures', () => {
  it('show both sides, the budget, the extremes and the coverage', () => {
    const html = renderToStaticMarkup(createElement(ColdChainStats, { tracking: detail(), band }));
    expect(text(html, 'minutes-sides')).toBe('12.0 min above, 5.0 min below the range, budget used 33 %');
    expect(text(html, 'budget-used')).toBe('33 %');
    expect(text(html, 'min-max')).toBe('Lowest / highest: 1.2 °C / 9.8 °C');
    expect(text(html, 'coverage')).toBe('Data coverage: 87 % (longest gap 14 min)');
  });

  it('before the first reading, and for data stored before the new figures', () => {
    const empty = renderToStaticMarkup(
      createElement(ColdChainStats, {
        tracking: detail({ latest: null, coverage: null, min_temperature_c: null, max_temperature_c: null }),
        band,
      }),
    );
    expect(text(empty, 'coverage')).toBe('Data coverage: –');
    expect(text(empty, 'min-max')).toBe('Lowest / highest: – / –');
    const {
      minutes_above: _a,
      minutes_below: _b,
      budget_used: _u,
      coverage: _c,
      longest_gap_minutes: _g,
      min_temperature_c: _min,
      max_temperature_c: _max,
      ...old
    } = detail();
    const html = renderToStaticMarkup(createElement(ColdChainStats, { tracking: old, band }));
    expect(text(html, 'minutes-sides')).toBe('17.0 of 75 min out of range');
    expect(text(html, 'budget-used')).toBe('23 %');
    expect(html).not.toContain('data-testid="coverage"');
    expect(html).not.toContain('data-testid="min-max"');
  });

  it('take the budget used from the API, else minutes over the budget', () => {
    expect(budgetUsedOf(detail())).toBe(0.333);
    expect(budgetUsedOf({ excursion_minutes: 30, budget_minutes: 60 })).toBe(0.5);
    expect(budgetUsedOf({ excursion_minutes: 0, budget_minutes: 0, budget_used: 0 })).toBeNull();
    expect(budgetUsedOf(null)).toBeNull();
  });
});

describe('the temperature chart', () => {
  const reading = (i: number, temperature_c: number): Reading => ({
    reading_id: `r${i}`,
    ts: new Date(Date.UTC(2026, 10, 21, 10, i)).toISOString(),
    lat: 0,
    lon: 0,
    temperature_c,
    vibration_g: 0,
  });

  it('draws a zone the readings come near as a labelled dashed line, and leaves a far one out', () => {
    const html = renderToStaticMarkup(createElement(TemperatureChart, { readings: [reading(0, 4), reading(5, 0.5)], band }));
    expect(html).toContain('data-testid="zone-cold"');
    expect(html).toMatch(/class="zone-label"[^>]*>cold zone (<!-- -->)?0(<!-- -->)? °C/);
    expect(html).not.toContain('data-testid="zone-hot"');
    const calm = renderToStaticMarkup(createElement(TemperatureChart, { readings: [reading(0, 4), reading(5, 6)], band }));
    expect(calm).not.toContain('zone-');
  });
});
